// The vocabulary of a DN shard: agents, their states, the commands Raft replicates, the
// results apply() returns to the proposer, and the change records routers follow. All plain
// readonly data (no classes, no closures) so it can be encoded into log entries and
// snapshots, logged, and compared in tests.

import type { ServiceDefinition } from '../common/config.js';
import type { Entry } from '../raft/types.js';
import type { ShardFailure } from './errors.js';

export type AgentStateName = 'LOGGED_OUT' | 'NOT_READY' | 'READY' | 'RESERVED' | 'BUSY' | 'WRAP_UP';
export const agentStateNames: readonly AgentStateName[] = [
  'LOGGED_OUT',
  'NOT_READY',
  'READY',
  'RESERVED',
  'BUSY',
  'WRAP_UP',
];

/** A grant of one agent to one call. `expiresAtMs` only matters while unanswered
 * (RESERVED): once confirmed the call runs until released. */
export type Reservation = Readonly<{
  reservationId: string;
  callId: string;
  /** The SIP node that asked; releaseByOwner frees everything it held. */
  owner: string;
  grantedAtMs: number;
  expiresAtMs: number;
  /** If the grant ends because its owner is gone — its TTL expires unanswered, or the
   * owner's restart releases it (releaseByOwner) — the agent waits this long in WRAP_UP, as
   * its phone may still hold the dead call. Absent = 0. */
  orphanHoldMs?: number;
  /** The wrap-up of the call's service, overriding the agent's own wrapUpMs when the call
   * ends after an answer. Absent = the agent's. */
  wrapUpMs?: number;
}>;

/** The agent's state with exactly the data that state needs. RESERVED remembers the
 * READY-since time so a reservation that ends without a call gives the agent back its
 * place in the longest-idle order. */
export type AgentStatus = Readonly<
  | { state: 'LOGGED_OUT' }
  | { state: 'NOT_READY'; reason: string }
  | { state: 'READY'; readySinceMs: number }
  | { state: 'RESERVED'; reservation: Reservation; readySinceMs: number }
  | { state: 'BUSY'; reservation: Reservation; answeredAtMs: number }
  | { state: 'WRAP_UP'; wrapUpEndsMs: number }
>;

/** One SIP registration of the agent's phone (RFC 3261 §10.3). */
export type ContactBinding = Readonly<{
  uri: string;
  expiresAtMs: number;
  /** Preference 0..1 from the Contact q parameter. */
  q: number;
  callId: string;
  cseq: number;
  /** Where the REGISTER really came from, when the registrar judged the Contact
   * unreachable (behind a NAT) or the phone asked for an RFC 5626 flow; absent otherwise
   * (and in bindings stored before this field existed). */
  received?: ContactSource;
}>;

/** The observed source of a REGISTER: calls to the binding go here instead of to the
 * Contact's host. `node`/`connection` name the SIP node and its TCP connection the
 * REGISTER came on; with `outbound` (RFC 5626) only that connection may carry requests. */
export type ContactSource = Readonly<{
  protocol: 'UDP' | 'TCP' | 'TLS';
  host: string;
  port: number;
  node: string;
  connection: string | null;
  outbound: boolean;
}>;

export type AgentCounters = Readonly<{
  callsAnswered: number;
  talkTimeMs: number;
  missedOffers: number;
  /** Reset by an answered call or by the agent going READY themself. */
  consecutiveNoAnswers: number;
  lastCallEndMs: number | null;
}>;

/** SIP digest secrets as hashes only: HA1 = H(user:realm:password) for MD5 (RFC 2617) and
 * SHA-256 (RFC 7616). The password itself never enters the log. */
export type DigestCredentials = Readonly<{ user: string; realm: string; ha1Md5: string; ha1Sha256: string }>;

export type AgentProfile = Readonly<{
  name: string;
  /** Skill name → level 0..100. */
  skills: Readonly<Record<string, number>>;
  wrapUpMs: number;
  /** Consecutive unanswered offers that put the agent NOT_READY('max-no-answer'); 0 = never. */
  maxNoAnswer: number;
  credentials: DigestCredentials | null;
}>;

export type Agent = Readonly<
  AgentProfile & {
    dn: string;
    status: AgentStatus;
    contacts: readonly ContactBinding[];
    counters: AgentCounters;
    /** Log index of the entry that last changed this agent (a version for readers). */
    version: number;
  }
>;

/** Why a queue entry left its queue. */
export type QueueRemoveReason = 'answered' | 'abandoned' | 'timed-out' | 'failed' | 'lease-expired' | 'owner-restarted';
export const queueRemoveReasons: readonly QueueRemoveReason[] = ['answered', 'abandoned', 'timed-out', 'failed', 'lease-expired', 'owner-restarted'];

/** An agent offered to a queued call: the entry's owner reserves `dn` next. Lapses at
 * `expiresAtMs` (entry time), so a claimer or owner that dies blocks nothing for long. */
export type QueueClaim = Readonly<{ dn: string; claimer: string; claimedAtMs: number; expiresAtMs: number }>;

/** A call waiting in the queue of one service, held by the SIP node `owner` (its leg is
 * there). Entries of a service are served in `enqueuedIndex` order: the Raft log order of
 * the shard owning the service is the cluster's arrival order. */
export type QueueEntry = Readonly<{
  service: string;
  callId: string;
  owner: string;
  skill: string;
  minLevel: number;
  enqueuedIndex: number;
  enqueuedAtMs: number;
  claim: QueueClaim | null;
  /** Agents this call was offered and did not get (no answer, declined): never claimed
   * for it again, as a queued call never rings a phone twice. Oldest dropped beyond
   * queuePassedDnsMax. */
  passed: readonly string[];
}>;

export type ReleaseOutcome = 'completed' | 'no-answer' | 'rejected' | 'abandoned' | 'failed';
export const releaseOutcomes: readonly ReleaseOutcome[] = ['completed', 'no-answer', 'rejected', 'abandoned', 'failed'];

export type Command = Readonly<
  | { type: 'openSession' }
  | ({ type: 'provision'; dn: string } & AgentProfile)
  | { type: 'deprovision'; dn: string }
  | { type: 'login'; dn: string }
  | { type: 'ready'; dn: string }
  | { type: 'notReady'; dn: string; reason: string }
  | { type: 'logout'; dn: string }
  /** expiresMs 0 removes the binding, like REGISTER with Expires: 0. */
  | { type: 'register'; dn: string; uri: string; expiresMs: number; q: number; callId: string; cseq: number; received?: ContactSource | null }
  /** uri null removes every binding (REGISTER Contact: *). */
  | { type: 'unregister'; dn: string; uri: string | null }
  /** `wrapUpMs` (null or absent: the agent's own): the wrap-up of the call's service. */
  | { type: 'reserve'; dn: string; reservationId: string; callId: string; owner: string; ttlMs: number; orphanHoldMs?: number; wrapUpMs?: number | null }
  | { type: 'confirm'; dn: string; reservationId: string }
  | { type: 'release'; dn: string; reservationId: string; outcome: ReleaseOutcome }
  | { type: 'expire'; dn: string; reservationId: string }
  /** `holdMs` is written only by SIP nodes from before the hold moved onto the grant
   * (reserve orphanHoldMs); it is still read so their log entries replay as they first
   * applied. */
  | { type: 'releaseByOwner'; owner: string; holdMs?: number }
  /** A SIP node's lease on this shard, renewed by the node itself (no per-grant
   * traffic): while it is renewed within `ttlMs`, the node's grants stand. */
  | { type: 'renewLease'; owner: string; ttlMs: number }
  /** Proposed by the leader when `owner` has not renewed for its lease time, measured on
   * the leader's monotonic clock from the renewal at `renewedIndex`: frees every grant
   * the owner held (through their orphan hold) unless a later renewal applied first. */
  | { type: 'expireLease'; owner: string; renewedIndex: number }
  | { type: 'tick' }
  /** Proposed by the leader when the replicated shard map differs from its cluster file's:
   * from then on the shard refuses DN commands for DNs that `shardOf(dn, shardIds)` gives
   * to another shard, and commands made under another map version. `shardId` is this
   * shard's own id, `version` is shardMapVersion(shardIds). */
  | { type: 'setShardMap'; shardId: string; shardIds: readonly string[]; version: number }
  /** Proposed by the admin REST before replica `replica` joins the shard: where its Raft
   * messages go. `store` is the store hosting it (null: a stand-alone replica), `raft` the
   * Raft address ("host:port") of that store, or of the replica itself, `client` its
   * client RPC address and `admin` its admin REST address (null: not known). Every replica of the shard routes to it once
   * this applies, and so does a replica restarted with a cluster file that does not name
   * it (the placement is in its log and snapshots): the running processes learn a new
   * member's address without a restart, and a client told that it leads can follow. */
  | { type: 'placeMember'; replica: string; store: string | null; raft: string; client: string | null; admin: string | null }
  /** A call starts waiting in `service`'s queue (owned by shardOf(service)); a repeat for
   * a callId already queued changes nothing and keeps its place. */
  | { type: 'enqueue'; service: string; callId: string; owner: string; skill: string; minLevel: number }
  /** The call left the queue (answered, hung up, timed out); removing an entry that is not
   * there is a success that changes nothing. Only the entry's owner may remove it. */
  | { type: 'dequeue'; service: string; callId: string; owner: string; reason: QueueRemoveReason }
  /** Offers agent `dn` (with `skills` as the claimer saw them) to the oldest unclaimed
   * entry that can take it; if `dn` already holds a live claim, that entry is returned. */
  | { type: 'claim'; service: string; dn: string; skills: Readonly<Record<string, number>>; claimer: string; ttlMs: number }
  /** The owner could not get `dn` (reserve denied, phone did not answer): the entry is
   * unclaimed again, at its original place. No-op unless `dn` holds the claim. `pass`:
   * the agent was offered the call (its phone rang), so it is not claimed for it again. */
  | { type: 'unclaim'; service: string; callId: string; owner: string; dn: string; pass: boolean }
  /** Creates or replaces the definition of service `definition.number` on the shard that
   * owns that number (shardOf(number), the shard of its queue). `ifAbsent`: only when the
   * shard holds none (how SIP nodes seed their cluster file's services, so an edit made
   * over REST survives their restarts). */
  | { type: 'putService'; definition: ServiceDefinition; ifAbsent: boolean }
  /** Removes a service's definition; removing one that is not there changes nothing.
   * Calls already queued in it stay queued. */
  | { type: 'deleteService'; number: string }
>;
export type CommandType = Command['type'];

/** Commands that need no session: naturally idempotent (a repeated tick or expire changes
 * nothing more) or the command that creates sessions. Everything else must carry one. */
export const sessionlessCommands: ReadonlySet<CommandType> = new Set(['openSession', 'tick', 'expire', 'renewLease', 'expireLease', 'setShardMap', 'placeMember']);

/** Where a member's Raft messages go, as placeMember replicated it. */
export type MemberPlacement = Readonly<{ replica: string; store: string | null; raft: string; client: string | null; admin: string | null }>;

/** Commands keyed by a service number rather than a DN: the shard owning the service's
 * queue is shardOf(service), the same hash as a DN's. */
export const queueCommands: ReadonlySet<CommandType> = new Set(['enqueue', 'dequeue', 'claim', 'unclaim']);

/** Commands keyed by a service number that change its definition (same owning shard). */
export const serviceCommands: ReadonlySet<CommandType> = new Set(['putService', 'deleteService']);

/** DN commands a shard still runs for a DN it does not own under its replicated map: they
 * only end a grant or remove an agent, never grant, so a shard can be emptied of what it
 * held before its map was set (and the leader's `expire` duty never loops on a refusal). */
export const ownershipExemptCommands: ReadonlySet<CommandType> = new Set(['expire', 'release', 'deprovision', 'dequeue', 'unclaim']);

/** A SIP node's lease on one shard, as replicated: which entry last renewed it, and for
 * how long a renewal holds. `renewedAtMs` (the entry's leader-stamped time) is for
 * display only; expiry is measured on the leader's monotonic clock, never from it. */
export type Lease = Readonly<{ owner: string; ttlMs: number; renewedIndex: number; renewedAtMs: number }>;

/** Exactly-once bookkeeping carried by a proposal (Ongaro thesis §6.3). `clientId` is the
 * id returned by openSession; `requestSeq` numbers the client's requests from 1;
 * `ackedSeq` says the client has received the answers of every request ≤ ackedSeq, so
 * the shard may forget them. */
export type SessionRef = Readonly<{ clientId: string; requestSeq: number; ackedSeq: number }>;

/** What a Raft entry of kind 'normal' carries (encoded by commands.ts). */
export type Proposal = Readonly<{
  session: SessionRef | null;
  command: Command;
  /** The version of the shard map the client routed this command by (shardMapVersion);
   * absent from clients and log entries from before the map was replicated. */
  mapVersion?: number;
}>;

export type ShardSuccess = Readonly<
  | { ok: true; type: 'session'; clientId: string }
  | { ok: true; type: 'agent'; agent: Agent }
  | { ok: true; type: 'reserved'; agent: Agent; reservation: Reservation }
  | { ok: true; type: 'deprovisioned'; dn: string }
  | { ok: true; type: 'releasedByOwner'; released: readonly Readonly<{ dn: string; reservationId: string }>[]; dequeued?: readonly Readonly<{ service: string; callId: string }>[] }
  | { ok: true; type: 'leaseRenewed'; lease: Lease }
  | { ok: true; type: 'leaseExpired'; owner: string; released: readonly Readonly<{ dn: string; reservationId: string }>[]; dequeued?: readonly Readonly<{ service: string; callId: string }>[] }
  | { ok: true; type: 'tick'; changedDns: readonly string[] }
  | { ok: true; type: 'shardMap'; shardMap: Readonly<{ shardId: string; shardIds: readonly string[]; version: number }> }
  | { ok: true; type: 'memberPlaced'; placement: MemberPlacement }
  /** `position`: 1 for the head of the service's queue. */
  | { ok: true; type: 'queued'; entry: QueueEntry; position: number }
  | { ok: true; type: 'dequeued'; service: string; callId: string; removed: boolean }
  /** `entry` null: no entry could take the agent. */
  | { ok: true; type: 'claimed'; service: string; entry: QueueEntry | null }
  | { ok: true; type: 'unclaimed'; service: string; callId: string; changed: boolean }
  /** The definition now in force (`changed` false: an ifAbsent put found one, or the
   * same definition was put again). */
  | { ok: true; type: 'service'; definition: ServiceDefinition; changed: boolean }
  | { ok: true; type: 'serviceDeleted'; number: string; removed: boolean }
>;

/** What apply() returns for a 'normal' entry. Failures change no state. */
export type ShardResult = ShardSuccess | ShardFailure;

/** Why a reserve was refused, as the router needs it to pick another agent. */
export type DenyReason = 'UNKNOWN_DN' | 'LOGGED_OUT' | 'NOT_READY' | 'RESERVED' | 'BUSY' | 'WRAP_UP';

export type ChangeKind =
  | Exclude<CommandType, 'openSession' | 'tick' | 'setShardMap' | 'placeMember' | 'enqueue' | 'dequeue' | 'claim' | 'unclaim' | 'putService' | 'deleteService'>
  /** WRAP_UP ran out: the agent became READY at wrapUpEndsMs. */
  | 'wrapUpEnded'
  /** Contact bindings passed their expiry and were dropped. */
  | 'contactsExpired';

/** One applied change to one agent; `agent` is null once deprovisioned. Several records
 * may share an index (one entry can change several agents). */
export type ChangeRecord = Readonly<{ index: number; dn: string; kind: ChangeKind; agent: Agent | null }>;

/** One applied change to one queue entry: `entry` as it is now, null once removed
 * (`reason` says why). It has no `dn` nor `agent`, declared absent so readers of agent
 * records can test `record.agent` without first telling the two kinds apart. */
export type QueueChangeRecord = Readonly<{
  index: number;
  kind: 'queue';
  dn?: undefined;
  agent?: undefined;
  service: string;
  callId: string;
  entry: QueueEntry | null;
  reason: 'enqueued' | 'claimed' | 'unclaimed' | QueueRemoveReason;
}>;

/** A service's definition changed: as it now is, null once deleted. No `dn` nor `agent`,
 * declared absent like a queue record's. */
export type ServiceChangeRecord = Readonly<{
  index: number;
  kind: 'service';
  dn?: undefined;
  agent?: undefined;
  number: string;
  definition: ServiceDefinition | null;
}>;

/** What a change feed carries: agent, queue and service records, in index order. */
export type FeedRecord = ChangeRecord | QueueChangeRecord | ServiceChangeRecord;

export function isQueueRecord(record: FeedRecord): record is QueueChangeRecord {
  return record.kind === 'queue';
}

export function isServiceRecord(record: FeedRecord): record is ServiceChangeRecord {
  return record.kind === 'service';
}

/** An agent record (neither a queue nor a service record). */
export function isAgentRecord(record: FeedRecord): record is ChangeRecord {
  return record.kind !== 'queue' && record.kind !== 'service';
}

export type ChangesPage = Readonly<{ changes: readonly FeedRecord[]; truncated: boolean }>;

/** A timer that has come due and needs a tick to become visible in the change feed. */
export type DueTimer = Readonly<{ dn: string; kind: 'wrapUpEnd' | 'contactExpiry'; atMs: number }>;

/** The shape Raft's driver calls: apply each committed 'normal' entry in order. */
export interface StateMachine {
  apply(entry: Entry): unknown;
  snapshot(): Uint8Array;
  restore(data: Uint8Array): void;
}
