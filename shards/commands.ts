// Encoding of proposals (a command plus its session reference) into Raft entry data:
// compact JSON `{"v":1,"s":[clientId,requestSeq,ackedSeq]|null,"c":{type,...}}` in UTF-8,
// plus `"m":mapVersion` when the client routed by a shard map version (absent otherwise,
// so proposals without one encode to the same bytes as before).
// Decoding validates every field against limits.ts and rebuilds the command with only the
// known fields in a fixed order, so whatever a replica stores from it (session results,
// snapshots) is the same bytes on every replica.

import { shardFailure, type ShardFailure } from './errors.js';
import { ConfigError, hostPortOf, parseService } from '../common/config.js';
import * as limits from './limits.js';
import { shardMapVersion } from './shard-map.js';
import { queueRemoveReasons, releaseOutcomes, type Command, type CommandType, type Proposal, type SessionRef } from './types.js';
import {
  checkCredentials,
  checkDn,
  checkFields,
  checkInt,
  checkOneOf,
  checkQ,
  checkSkillName,
  checkSkills,
  checkText,
  checkUri,
  isPlainObject,
  type Check,
} from './validate.js';

const formatVersion = 1;
const cseqMax = 2 ** 31 - 1;

const reservationFields = { dn: checkDn, reservationId: checkText(limits.reservationIdCharsMax) };
const checkService = checkText(limits.serviceNumberCharsMax);
const checkOwner = checkText(limits.ownerCharsMax);
const checkCallId = checkText(limits.sipCallIdCharsMax);

/** The fields of each command type besides `type`, in their canonical order. */
const commandSpecs: Readonly<Record<CommandType, Readonly<Record<string, Check>>>> = {
  openSession: {},
  provision: {
    dn: checkDn,
    name: checkText(limits.agentNameCharsMax),
    skills: checkSkills,
    wrapUpMs: checkInt(0, limits.wrapUpMsMax),
    maxNoAnswer: checkInt(0, limits.maxNoAnswerMax),
    credentials: checkCredentials,
  },
  deprovision: { dn: checkDn },
  login: { dn: checkDn },
  ready: { dn: checkDn },
  notReady: { dn: checkDn, reason: checkText(limits.notReadyReasonCharsMax) },
  logout: { dn: checkDn },
  register: {
    dn: checkDn,
    uri: checkUri,
    expiresMs: checkInt(0, limits.contactExpiresMsMax),
    q: checkQ,
    callId: checkText(limits.sipCallIdCharsMax),
    cseq: checkInt(0, cseqMax),
    received: checkContactSource,
  },
  unregister: { dn: checkDn, uri: (v, f) => (v === null ? null : checkUri(v, f)) },
  reserve: {
    ...reservationFields,
    callId: checkText(limits.sipCallIdCharsMax),
    owner: checkText(limits.ownerCharsMax),
    ttlMs: checkInt(1, limits.reservationTtlMsMax),
    orphanHoldMs: checkInt(0, limits.orphanHoldMsMax),
    wrapUpMs: (v, f) => (v === null ? null : checkInt(0, limits.wrapUpMsMax)(v, f)),
  },
  confirm: reservationFields,
  release: { ...reservationFields, outcome: checkOneOf(releaseOutcomes) },
  expire: reservationFields,
  releaseByOwner: { owner: checkText(limits.ownerCharsMax), holdMs: checkInt(0, limits.orphanHoldMsMax) },
  renewLease: { owner: checkText(limits.ownerCharsMax), ttlMs: checkInt(limits.leaseTtlMsMin, limits.leaseTtlMsMax) },
  expireLease: { owner: checkText(limits.ownerCharsMax), renewedIndex: checkInt(1, Number.MAX_SAFE_INTEGER) },
  tick: {},
  setShardMap: {
    shardId: checkText(limits.shardIdCharsMax),
    shardIds: checkShardIds,
    version: checkInt(0, Number.MAX_SAFE_INTEGER),
  },
  placeMember: { replica: checkMemberId, store: checkStoreId, raft: checkRaftAddress, client: checkOptionalAddress, admin: checkOptionalAddress },
  enqueue: { service: checkService, callId: checkCallId, owner: checkOwner, skill: checkSkillName, minLevel: checkInt(0, limits.skillLevelMax) },
  dequeue: { service: checkService, callId: checkCallId, owner: checkOwner, reason: checkOneOf(queueRemoveReasons) },
  claim: { service: checkService, dn: checkDn, skills: checkSkills, claimer: checkOwner, ttlMs: checkInt(1, limits.queueClaimTtlMsMax) },
  unclaim: { service: checkService, callId: checkCallId, owner: checkOwner, dn: checkDn, pass: checkBoolean },
  putService: { definition: checkServiceDefinition, ifAbsent: checkBoolean },
  deleteService: { number: checkService },
};

/** A service definition as the cluster file and the admin REST accept it (one parser:
 * common/config.ts parseService), every field present. */
function checkServiceDefinition(v: unknown, f: string): string | null {
  try {
    parseService(v, f);
    return null;
  } catch (err) {
    if (err instanceof ConfigError) return err.message;
    throw err;
  }
}

function checkBoolean(v: unknown, f: string): string | null {
  return typeof v === 'boolean' ? null : `${f} must be true or false`;
}

const contactSourceSpec: Readonly<Record<string, Check>> = {
  protocol: checkOneOf(['UDP', 'TCP', 'TLS']),
  host: checkText(limits.contactHostCharsMax),
  port: checkInt(1, 65535),
  node: checkText(limits.ownerCharsMax),
  connection: (v, f) => (v === null ? null : checkText(limits.ownerCharsMax)(v, f)),
  outbound: checkBoolean,
};

/** register.received: null, or where the REGISTER came from (types.ts ContactSource). */
function checkContactSource(v: unknown, f: string): string | null {
  if (v === null) return null;
  if (!isPlainObject(v)) return `${f} must be null or an object`;
  return checkFields(v, f, contactSourceSpec);
}

/** A replica or store id as the cluster file and the admin REST spell them. */
const memberIdPattern = /^[A-Za-z0-9_.-]{1,64}$/;

function checkMemberId(v: unknown, f: string): string | null {
  return typeof v === 'string' && memberIdPattern.test(v) ? null : `${f} must be 1..64 letters, digits, '_', '.' or '-'`;
}

function checkStoreId(v: unknown, f: string): string | null {
  return v === null ? null : checkMemberId(v, f);
}

/** "host:port" (an IPv6 host in brackets), the port 1..65535: a Raft peer's address.
 * The admin REST checks a new member's address with it before proposing it. */
export function checkRaftAddress(v: unknown, f: string): string | null {
  const a = typeof v === 'string' && v.length <= limits.raftAddressCharsMax ? hostPortOf(v) : null;
  return a !== null && a.port >= 1 && a.port <= 65535 ? null : `${f} must be host:port with a port from 1 to 65535`;
}

function checkOptionalAddress(v: unknown, f: string): string | null {
  return v === null ? null : checkRaftAddress(v, f);
}

/** A shard list: 1..shardMapShardsMax distinct ids, sorted (one canonical form). */
function checkShardIds(v: unknown, f: string): string | null {
  if (!Array.isArray(v) || v.length < 1 || v.length > limits.shardMapShardsMax) return `${f} must be an array of 1..${limits.shardMapShardsMax} shard ids`;
  const checkId = checkText(limits.shardIdCharsMax);
  for (let i = 0; i < v.length; i++) {
    const error = checkId(v[i], `${f}[${i}]`);
    if (error) return error;
    if (i > 0 && !((v[i - 1] as string) < (v[i] as string))) return `${f} must be sorted and distinct`;
  }
  return null;
}

const commandTypes = Object.keys(commandSpecs);
/** Fields added after a command type first shipped: entries written before carry none, and
 * decode as if they carried these values (so replaying an old log gives the old results). */
const commandDefaults: Readonly<Partial<Record<CommandType, Readonly<Record<string, unknown>>>>> = {
  reserve: { orphanHoldMs: 0, wrapUpMs: null },
  register: { received: null },
  releaseByOwner: { holdMs: 0 },
};
// Built once: validation runs for every proposal on the leader and for every entry on
// every replica (about 15 times per call placed), so the hot path creates no closures,
// spec objects, merged copies or field names per call; only the canonical command.
const noCheck: Check = () => null;
/** A command type's fields in canonical order, their checks and their error names. */
type CompiledCommandSpec = Readonly<{ keys: readonly string[]; checks: readonly Check[]; names: readonly string[]; known: ReadonlySet<string>; defaults: Readonly<Record<string, unknown>> | undefined }>;
const compiledCommandSpecs = new Map<string, CompiledCommandSpec>(
  Object.entries(commandSpecs).map(([type, spec]): [string, CompiledCommandSpec] => {
    const keys = Object.keys(spec);
    return [type, { keys, checks: keys.map((k) => spec[k]!), names: keys.map((k) => `command.${k}`), known: new Set(['type', ...keys]), defaults: commandDefaults[type as CommandType] }];
  }),
);
const proposalSpec: Readonly<Record<string, Check>> = { v: noCheck, s: noCheck, c: noCheck };
const proposalWithMapSpec: Readonly<Record<string, Check>> = { ...proposalSpec, m: checkInt(0, Number.MAX_SAFE_INTEGER) };
const checkClientId = checkText(limits.clientIdCharsMax);
const checkRequestSeq = checkInt(1, Number.MAX_SAFE_INTEGER);
const utf8Encoder = new TextEncoder();
const utf8Decoder = new TextDecoder('utf-8', { fatal: true });

/** Validates a command-shaped value; returns the canonical copy or the first error. */
export function validateCommand(value: unknown): { ok: true; command: Command } | ShardFailure {
  if (!isPlainObject(value)) return shardFailure('SHARD_ERR_BAD_COMMAND', 'command must be an object');
  const type = value['type'];
  const spec = typeof type === 'string' && Object.hasOwn(commandSpecs, type) ? compiledCommandSpecs.get(type) : undefined;
  if (spec === undefined) {
    return shardFailure('SHARD_ERR_BAD_COMMAND', `command.type must be one of ${commandTypes.join(', ')}`);
  }
  // checkFields's contract (no unknown field, none missing, each valid, in that order) with
  // the defaults read in place of a merged copy.
  for (const key of Object.keys(value)) {
    if (!spec.known.has(key)) return shardFailure('SHARD_ERR_BAD_COMMAND', `command has an unknown field ${JSON.stringify(key.slice(0, 80))}`);
  }
  const { keys, checks, names, defaults } = spec;
  const fields: unknown[] = new Array(keys.length);
  for (let i = 0; i < keys.length; i++) {
    const key = keys[i]!;
    if (Object.hasOwn(value, key)) fields[i] = value[key];
    else if (defaults !== undefined && Object.hasOwn(defaults, key)) fields[i] = defaults[key];
    else return shardFailure('SHARD_ERR_BAD_COMMAND', `${names[i]!} is missing`);
    const error = checks[i]!(fields[i], names[i]!);
    if (error) return shardFailure('SHARD_ERR_BAD_COMMAND', error);
  }
  const canonical: Record<string, unknown> = { type };
  for (let i = 0; i < keys.length; i++) {
    const v = fields[i];
    canonical[keys[i]!] = typeof v === 'object' && v !== null ? canonicalValue(v) : v;
  }
  // Only when set: a reserve without a service wrap-up encodes to the bytes it always did.
  if (type === 'reserve' && canonical['wrapUpMs'] === null) delete canonical['wrapUpMs'];
  // Defaults filled in, so a definition given with fields left out is stored whole.
  if (type === 'putService') canonical['definition'] = canonicalValue(parseService(fields[keys.indexOf('definition')], 'command.definition'));
  if (type === 'setShardMap') {
    const map = canonical as { shardId: string; shardIds: string[]; version: number };
    if (!map.shardIds.includes(map.shardId)) return shardFailure('SHARD_ERR_BAD_COMMAND', `command.shardId ${JSON.stringify(map.shardId)} is not in command.shardIds`);
    if (map.version !== shardMapVersion(map.shardIds)) return shardFailure('SHARD_ERR_BAD_COMMAND', 'command.version is not the version of command.shardIds');
  }
  return { ok: true, command: canonical as Command };
}

/** Deep copy with object keys sorted (skills, credentials), so equal commands are equal bytes. */
function canonicalValue(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(canonicalValue);
  if (!isPlainObject(value)) return value;
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(value).sort()) out[key] = canonicalValue(value[key]);
  return out;
}

function checkAckedSeq(ackedSeq: unknown, requestSeq: number): string | null {
  return typeof ackedSeq === 'number' && Number.isSafeInteger(ackedSeq) && ackedSeq >= 0 && ackedSeq <= requestSeq - 1
    ? null
    : `session.ackedSeq must be an integer in 0..${requestSeq - 1}`;
}

export function validateSession(value: unknown): { ok: true; session: SessionRef | null } | ShardFailure {
  if (value === null) return { ok: true, session: null };
  if (!Array.isArray(value) || value.length !== 3) return shardFailure('SHARD_ERR_BAD_COMMAND', 'session must be [clientId, requestSeq, ackedSeq] or null');
  const error =
    checkClientId(value[0], 'session.clientId') ??
    checkRequestSeq(value[1], 'session.requestSeq') ??
    checkAckedSeq(value[2], value[1] as number);
  if (error) return shardFailure('SHARD_ERR_BAD_COMMAND', error);
  const [clientId, requestSeq, ackedSeq] = value as [string, number, number];
  return { ok: true, session: { clientId, requestSeq, ackedSeq } };
}

export function validateProposal(value: unknown): { ok: true; proposal: Proposal } | ShardFailure {
  if (!isPlainObject(value)) return shardFailure('SHARD_ERR_BAD_COMMAND', 'proposal must be an object');
  if (value['v'] !== formatVersion) return shardFailure('SHARD_ERR_BAD_COMMAND', `unsupported proposal version ${String(value['v'])}`);
  const withMap = Object.hasOwn(value, 'm');
  const fieldsError = checkFields(value, 'proposal', withMap ? proposalWithMapSpec : proposalSpec);
  if (fieldsError) return shardFailure('SHARD_ERR_BAD_COMMAND', fieldsError);
  const session = validateSession(value['s']);
  if (!session.ok) return session;
  const command = validateCommand(value['c']);
  if (!command.ok) return command;
  const proposal: Proposal = withMap ? { session: session.session, command: command.command, mapVersion: value['m'] as number } : { session: session.session, command: command.command };
  return { ok: true, proposal };
}

/** Encodes a proposal for `raft.propose()`. Throws a TypeError naming the bad field: an
 * invalid command is a caller bug (callers validate user input with validateCommand). */
export function encodeProposal(proposal: Proposal): Uint8Array {
  const session = proposal.session === null ? null : [proposal.session.clientId, proposal.session.requestSeq, proposal.session.ackedSeq];
  const envelope = proposal.mapVersion === undefined ? { v: formatVersion, s: session, c: proposal.command } : { v: formatVersion, s: session, c: proposal.command, m: proposal.mapVersion };
  const checked = validateProposal(envelope);
  if (!checked.ok) throw new TypeError(`${checked.code}: ${checked.reason}`);
  const bytes = utf8Encoder.encode(JSON.stringify({ ...envelope, c: checked.proposal.command }));
  if (bytes.length > limits.commandBytesMax) {
    throw new TypeError(`SHARD_ERR_BAD_COMMAND: proposal is ${bytes.length} bytes, more than ${limits.commandBytesMax}`);
  }
  return bytes;
}

/** Decodes entry data; never throws (a replica must survive any bytes in its log). */
export function decodeProposal(data: Uint8Array): { ok: true; proposal: Proposal } | ShardFailure {
  if (data.length > limits.commandBytesMax) {
    return shardFailure('SHARD_ERR_BAD_COMMAND', `proposal is ${data.length} bytes, more than ${limits.commandBytesMax}`);
  }
  let value: unknown;
  try {
    value = JSON.parse(utf8Decoder.decode(data));
  } catch {
    return shardFailure('SHARD_ERR_BAD_COMMAND', 'proposal is not UTF-8 JSON');
  }
  return validateProposal(value);
}
