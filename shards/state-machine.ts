// The replicated state of one DN shard. Raft's driver calls apply() for each committed
// 'normal' entry in log order on every replica; apply() reads only entry.index,
// entry.timestampMs and entry.data, never a clock or a random source, so every replica
// reaches the same state and snapshot() gives the same bytes.
//
// Time: the entry's leader-stamped timestamp, clamped so it never goes backwards across a
// leader change with a slower clock. Timers (wrap-up end, contact expiry) are settled
// lazily: for the agent an entry touches, before its command runs, and for all agents on a
// `tick` — which the leader proposes when dueTimers() is non-empty so the transitions reach
// the change feed. Queries settle a copy at the time they are asked about without changing
// state. Reservation TTLs are not lazy: the leader proposes `expire` for each entry of
// expiredReservations(), so every grant's end is an explicit log entry.
//
// Leases: each SIP node renews a lease on the shard (renewLease); when it stops, the leader
// proposes expireLease naming the last renewal it saw, and applying it frees the node's
// grants through their orphan hold, unless a later renewal applied first. Whether a lease
// ran out is judged by the leader on its monotonic clock (shards/node/lease-watch.ts),
// never here: apply only compares entry indexes.
//
// Ownership: once the leader has replicated its cluster file's shard map (setShardMap),
// the shard refuses a DN command unless shardOf(dn, map) is this shard
// (SHARD_ERR_WRONG_SHARD), and a command routed under another map version
// (SHARD_ERR_MAP_VERSION); both carry the map so the client can route again. Two SIP
// nodes whose files list different shards then cannot reserve one DN on two shards. Until
// a map is set every command is accepted as before, so old logs replay identically.
//
// Queues (queue.ts): the shard also holds the waiting calls of the services that hash to
// it (shardOf(service), ownership checked like a DN's). An expireLease or releaseByOwner
// removes the owner's entries in the same command that frees its grants.
//
// Services (services.ts): and the definitions of those same services (putService,
// deleteService), published on the change feed; a definition's maxQueueLength is enforced
// here at enqueue.

import assert from 'node:assert';
import type { ServiceDefinition } from '../common/config.js';
import type { Entry } from '../raft/types.js';
import * as ops from './agent-ops.js';
import { canonicalJson } from './canonical-json.js';
import { ChangeFeed } from './change-feed.js';
import { checkRaftAddress, decodeProposal } from './commands.js';
import { shardFailure, type ShardFailure } from './errors.js';
import * as limits from './limits.js';
import { ServiceQueues, type QueueLimits } from './queue.js';
import { ServiceTable } from './services.js';
import { shardOf, type ShardMap } from './shard-map.js';
import { defaultSessionLimits, SessionTable, type SessionLimits, type SessionsData } from './sessions.js';
import {
  ownershipExemptCommands,
  sessionlessCommands,
  type Agent,
  type AgentStateName,
  type ChangeKind,
  type ChangesPage,
  type Command,
  type DueTimer,
  type Lease,
  type MemberPlacement,
  type QueueChangeRecord,
  type Proposal,
  type QueueEntry,
  type Reservation,
  type ServiceChangeRecord,
  type ShardResult,
  type StateMachine,
} from './types.js';

/** 2 added `leases`; 3 added `shardMap`; 4 added `queues`; 5 added `services`; 6 added
 * `placements`. Older snapshots restore with none of them. */
const snapshotVersion = 6;

export type ShardStateMachineOptions = Readonly<{
  changeFeedMax?: number;
  sessions?: SessionLimits;
  agentsMax?: number;
  leasesMax?: number;
  queues?: QueueLimits;
}>;

export type AgentFilter = Readonly<{ state?: AgentStateName; skill?: string; skillLevelMin?: number }>;

export type ReservationView = Readonly<{ dn: string; state: 'RESERVED' | 'BUSY'; reservation: Reservation }>;

type SnapshotData = Readonly<{
  v: number;
  appliedIndex: number;
  timeMs: number;
  agents: readonly Agent[];
  sessions: SessionsData;
  leases?: readonly Lease[];
  shardMap?: ShardMap | null;
  queues?: readonly QueueEntry[];
  services?: readonly ServiceDefinition[];
  placements?: readonly MemberPlacement[];
}>;

export class ShardStateMachine implements StateMachine {
  readonly #changeFeedMax: number;
  readonly #sessionLimits: SessionLimits;
  readonly #agentsMax: number;
  readonly #leasesMax: number;
  #agents = new Map<string, Agent>();
  #leases = new Map<string, Lease>();
  readonly #queueLimits: QueueLimits | undefined;
  #queues: ServiceQueues;
  #services = new ServiceTable();
  /** The replicated shard map; null until the leader has proposed one (accept every DN). */
  #shardMap: ShardMap | null = null;
  /** Members placed by placeMember, by replica id; replaced as a whole on every change,
   * so a reader holding the old map (shard-node.ts) can tell that it changed. */
  #placements: ReadonlyMap<string, MemberPlacement> = new Map();
  /** Local memo of shardOf(dn, map) under #shardMap: the ownership check runs on every DN
   * command on every replica, and shardOf hashes the DN once per shard id (SHA-256), which
   * grows with the shard count. Cleared when the map changes; bounded like the agents. */
  readonly #ownerOf = new Map<string, string>();
  #sessions: SessionTable;
  #feed: ChangeFeed;
  #appliedIndex = 0;
  /** A lower bound on the next timer or TTL due (see quietUntilMs). */
  #deadlineHintMs = Number.NEGATIVE_INFINITY;
  #timeMs = 0;

  constructor(options: ShardStateMachineOptions = {}) {
    this.#changeFeedMax = options.changeFeedMax ?? limits.changeFeedMax;
    this.#sessionLimits = options.sessions ?? defaultSessionLimits;
    this.#agentsMax = options.agentsMax ?? limits.agentsPerShardMax;
    this.#leasesMax = options.leasesMax ?? limits.leasesPerShardMax;
    this.#sessions = new SessionTable(this.#sessionLimits);
    this.#feed = new ChangeFeed(this.#changeFeedMax);
    this.#queueLimits = options.queues;
    this.#queues = new ServiceQueues(options.queues);
  }

  /** Applies one committed entry; returns the ShardResult for the proposer (undefined for
   * 'noop' and 'conf' entries, which only advance the applied index). `decoded`, when
   * given, is decodeProposal(entry.data)'s proposal, already at hand (the proposer's). */
  apply(entry: Entry, decoded?: Proposal): ShardResult | undefined {
    if (!(entry.index > this.#appliedIndex)) assert.fail(`entry ${entry.index} applied after ${this.#appliedIndex}`);
    assert(Number.isFinite(entry.timestampMs), 'entry without a finite timestamp');
    this.#appliedIndex = entry.index;
    if (entry.kind !== 'normal') return undefined;
    let proposal = decoded;
    if (proposal === undefined) {
      const fromLog = decodeProposal(entry.data);
      if (!fromLog.ok) return fromLog;
      proposal = fromLog.proposal;
    }
    const { session, command, mapVersion } = proposal;
    this.#timeMs = Math.max(this.#timeMs, entry.timestampMs);
    if (command.type === 'openSession') {
      if (session !== null) return shardFailure('SHARD_ERR_BAD_COMMAND', 'openSession carries no session');
      const clientId = `c${entry.index}`;
      this.#sessions.open(clientId, this.#timeMs);
      return { ok: true, type: 'session', clientId };
    }
    if (session === null) {
      if (!sessionlessCommands.has(command.type)) {
        return shardFailure('SHARD_ERR_SESSION_REQUIRED', `${command.type} needs a client session`);
      }
      return this.#ownershipRefusal(command, mapVersion) ?? this.#execute(command, entry.index);
    }
    const verdict = this.#sessions.check(session, this.#timeMs);
    if (!verdict.run) return verdict.result;
    // Remembered like any answer: a retry of the same request gets the same refusal, and
    // the client sends a new request to the owning shard.
    const result = this.#ownershipRefusal(command, mapVersion) ?? this.#execute(command, entry.index);
    this.#sessions.remember(session, result);
    return result;
  }

  #execute(command: Command, index: number): ShardResult {
    const nowMs = this.#timeMs;
    switch (command.type) {
      case 'openSession':
        assert.fail('openSession is handled by apply');
      case 'tick':
        return this.#tick(index);
      case 'releaseByOwner':
        return this.#releaseByOwner(command.owner, command.holdMs ?? 0, index);
      case 'renewLease':
        return this.#renewLease(command.owner, command.ttlMs, index);
      case 'expireLease':
        return this.#expireLease(command.owner, command.renewedIndex, index);
      case 'setShardMap':
        this.#shardMap = { shardId: command.shardId, shardIds: [...command.shardIds], version: command.version };
        this.#ownerOf.clear();
        return { ok: true, type: 'shardMap', shardMap: this.#shardMap };
      case 'placeMember':
        return this.#placeMember({ replica: command.replica, store: command.store, raft: command.raft, client: command.client, admin: command.admin });
      case 'enqueue':
        return this.#queueChanged(this.#queues.enqueue(command, index, nowMs, this.#services.get(command.service)?.maxQueueLength ?? null));
      case 'putService':
        return this.#queueChanged(this.#services.put(command, index));
      case 'deleteService':
        return this.#queueChanged(this.#services.delete(command.number, index));
      case 'dequeue':
        return this.#queueChanged(this.#queues.dequeue(command, index));
      case 'claim':
        return this.#queueChanged(this.#queues.claim(command, index, nowMs));
      case 'unclaim':
        return this.#queueChanged(this.#queues.unclaim(command, index));
      case 'provision': {
        const existing = this.#settled(command.dn, index);
        if (!existing && this.#agents.size >= this.#agentsMax) {
          return shardFailure('SHARD_ERR_LIMIT', `shard already holds ${this.#agentsMax} agents`);
        }
        return this.#commit(command.dn, 'provision', ops.provision(existing, command, index), index);
      }
      default: {
        const agent = this.#settled(command.dn, index);
        if (!agent) return shardFailure('SHARD_ERR_UNKNOWN_DN', `DN ${command.dn} is not provisioned on this shard`);
        return this.#commit(command.dn, command.type, this.#runAgentOp(agent, command, nowMs, index), index);
      }
    }
  }

  #placeMember(placement: MemberPlacement): ShardResult {
    if (!this.#placements.has(placement.replica) && this.#placements.size >= limits.memberPlacementsMax) {
      return shardFailure('SHARD_ERR_LIMIT', `shard already records ${limits.memberPlacementsMax} member placements`);
    }
    const next = new Map(this.#placements);
    next.set(placement.replica, placement);
    this.#placements = next;
    return { ok: true, type: 'memberPlaced', placement };
  }

  #queueChanged(outcome: Readonly<{ result: ShardResult; records: readonly (QueueChangeRecord | ServiceChangeRecord)[] }>): ShardResult {
    for (const r of outcome.records) this.#feed.push(r);
    return outcome.result;
  }

  /** Why this shard refuses a DN (or service queue) command under its replicated map, or
   * null to run it. */
  #ownershipRefusal(command: Command, mapVersion: number | undefined): ShardFailure | null {
    const map = this.#shardMap;
    if (map === null || ownershipExemptCommands.has(command.type)) return null;
    const key = command.type === 'putService' ? command.definition.number : command.type === 'deleteService' ? command.number : 'service' in command ? command.service : 'dn' in command ? command.dn : null;
    if (key === null) return null;
    if (mapVersion !== undefined && mapVersion !== map.version) {
      return shardFailure('SHARD_ERR_MAP_VERSION', `routed under shard map version ${mapVersion}; shard ${map.shardId} has version ${map.version} (${map.shardIds.join(', ')})`, map);
    }
    let owner = this.#ownerOf.get(key);
    if (owner === undefined) {
      owner = shardOf(key, map.shardIds);
      if (this.#ownerOf.size >= this.#agentsMax) this.#ownerOf.clear();
      this.#ownerOf.set(key, owner);
    }
    const what = 'dn' in command ? 'DN' : 'service';
    if (owner !== map.shardId) return shardFailure('SHARD_ERR_WRONG_SHARD', `${what} ${key} belongs to shard ${owner}, not ${map.shardId}`, map);
    return null;
  }

  #runAgentOp(agent: Agent, command: Exclude<Command, { type: 'openSession' | 'tick' | 'releaseByOwner' | 'renewLease' | 'expireLease' | 'setShardMap' | 'placeMember' | 'provision' | 'enqueue' | 'dequeue' | 'claim' | 'unclaim' | 'putService' | 'deleteService' }>, nowMs: number, index: number): ops.OpResult {
    switch (command.type) {
      case 'deprovision':
        return ops.deprovision(agent);
      case 'login':
        return ops.login(agent, index);
      case 'ready':
        return ops.ready(agent, nowMs, index);
      case 'notReady':
        return ops.notReady(agent, command.reason, index);
      case 'logout':
        return ops.logout(agent, index);
      case 'register':
        return ops.register(agent, command, nowMs, index);
      case 'unregister':
        return ops.unregister(agent, command.uri, index);
      case 'reserve':
        return ops.reserve(agent, command, nowMs, index);
      case 'confirm':
        return ops.confirm(agent, command.reservationId, nowMs, index);
      case 'release':
        return ops.release(agent, command, nowMs, index);
      case 'expire':
        return ops.expire(agent, command.reservationId, nowMs, index);
    }
  }

  /** The agent with its due timers applied and recorded in the feed (null if unknown). */
  #settled(dn: string, index: number): Agent | null {
    const agent = this.#agents.get(dn);
    if (!agent) return null;
    const { agent: next, kinds } = ops.settle(agent, this.#timeMs, index);
    if (kinds.length === 0) return agent;
    this.#agents.set(dn, next);
    this.#noteDeadlines(next);
    for (const kind of kinds) this.#feed.push({ index, dn, kind, agent: next });
    return next;
  }

  #commit(dn: string, kind: ChangeKind, outcome: ops.OpResult, index: number): ShardResult {
    if (!('result' in outcome)) return outcome;
    if (!outcome.changed) return outcome.result;
    if (outcome.agent === null) this.#agents.delete(dn);
    else {
      this.#agents.set(dn, outcome.agent);
      this.#noteDeadlines(outcome.agent);
    }
    this.#feed.push({ index, dn, kind, agent: outcome.agent });
    return outcome.result;
  }

  #tick(index: number): ShardResult {
    this.#sessions.dropIdle(this.#timeMs);
    const changedDns: string[] = [];
    for (const dn of this.#sortedDns()) {
      const before = this.#agents.get(dn);
      if (this.#settled(dn, index) !== before) changedDns.push(dn);
    }
    return { ok: true, type: 'tick', changedDns };
  }

  #renewLease(owner: string, ttlMs: number, index: number): ShardResult {
    if (!this.#leases.has(owner) && this.#leases.size >= this.#leasesMax) {
      return shardFailure('SHARD_ERR_LIMIT', `shard already holds ${this.#leasesMax} leases`);
    }
    const lease: Lease = { owner, ttlMs, renewedIndex: index, renewedAtMs: this.#timeMs };
    this.#leases.set(owner, lease);
    return { ok: true, type: 'leaseRenewed', lease };
  }

  /** Frees the owner's grants as releaseByOwner does, but only if `renewedIndex` is still
   * the lease's last renewal: a renewal that applied after the leader decided wins. */
  #expireLease(owner: string, renewedIndex: number, index: number): ShardResult {
    const lease = this.#leases.get(owner);
    if (lease === undefined || lease.renewedIndex !== renewedIndex) {
      return shardFailure('SHARD_ERR_LEASE_RENEWED', lease === undefined ? `${owner} holds no lease` : `${owner} renewed its lease at index ${lease.renewedIndex}, after ${renewedIndex}`);
    }
    this.#leases.delete(owner);
    const released = this.#releaseGrantsOf(owner, 0, 'expireLease', index);
    const dequeued = this.#dequeueOwner(owner, 'lease-expired', index);
    // Only present when entries went, so results of logs from before queues keep their bytes.
    return dequeued.length === 0 ? { ok: true, type: 'leaseExpired', owner, released } : { ok: true, type: 'leaseExpired', owner, released, dequeued };
  }

  /** A restarted node's callers from its last life are gone with its process: their
   * entries leave the queue with its grants. */
  #releaseByOwner(owner: string, legacyHoldMs: number, index: number): ShardResult {
    const released = this.#releaseGrantsOf(owner, legacyHoldMs, 'releaseByOwner', index);
    const dequeued = this.#dequeueOwner(owner, 'owner-restarted', index);
    return dequeued.length === 0 ? { ok: true, type: 'releasedByOwner', released } : { ok: true, type: 'releasedByOwner', released, dequeued };
  }

  #dequeueOwner(owner: string, reason: 'lease-expired' | 'owner-restarted', index: number): { service: string; callId: string }[] {
    const { removed, records } = this.#queues.removeOwner(owner, reason, index);
    for (const r of records) this.#feed.push(r);
    return removed;
  }

  /** Ends every reservation and call `owner` holds, each agent into WRAP_UP for its
   * grant's orphan hold (its phone may still hold the dead call). */
  #releaseGrantsOf(owner: string, legacyHoldMs: number, kind: 'releaseByOwner' | 'expireLease', index: number): { dn: string; reservationId: string }[] {
    const released: { dn: string; reservationId: string }[] = [];
    for (const dn of this.#sortedDns()) {
      const agent = this.#settled(dn, index)!;
      const { status } = agent;
      if ((status.state !== 'RESERVED' && status.state !== 'BUSY') || status.reservation.owner !== owner) continue;
      const outcome = ops.endReservation(agent, 'failed', this.#timeMs, index, Math.max(legacyHoldMs, status.reservation.orphanHoldMs ?? 0));
      assert('result' in outcome, 'ending a held reservation cannot fail');
      this.#commit(dn, kind, outcome, index);
      released.push({ dn, reservationId: status.reservation.reservationId });
    }
    return released;
  }

  /** Map order depends on history (a restored replica inserts in DN order), so anything
   * whose effects are ordered walks DNs sorted. */
  #sortedDns(): string[] {
    return [...this.#agents.keys()].sort();
  }

  // ---- snapshots ----

  /** The whole replicated state as canonical JSON: the same state gives the same bytes.
   * The change feed is not included; a restored replica answers changesSince() with
   * `truncated` for any index before the snapshot. */
  snapshot(): Uint8Array {
    const data: SnapshotData = {
      v: snapshotVersion,
      appliedIndex: this.#appliedIndex,
      timeMs: this.#timeMs,
      agents: this.#sortedDns().map((dn) => this.#agents.get(dn)!),
      sessions: this.#sessions.toData(),
      leases: [...this.#leases.keys()].sort().map((owner) => this.#leases.get(owner)!),
      shardMap: this.#shardMap,
      queues: this.#queues.entries(),
      services: this.#services.list(),
      placements: [...this.#placements.keys()].sort().map((id) => this.#placements.get(id)!),
    };
    return new TextEncoder().encode(canonicalJson(data));
  }

  /** Replaces the whole state with a snapshot taken by snapshot() (of any replica). */
  restore(data: Uint8Array): void {
    const parsed = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(data)) as SnapshotData;
    assert(Number.isSafeInteger(parsed.v) && parsed.v >= 1 && parsed.v <= snapshotVersion, `unsupported shard snapshot version ${String(parsed.v)}`);
    assert(Number.isSafeInteger(parsed.appliedIndex) && Number.isFinite(parsed.timeMs) && Array.isArray(parsed.agents));
    const agents = new Map<string, Agent>();
    for (const agent of parsed.agents) {
      assert(typeof agent.dn === 'string' && !agents.has(agent.dn), 'snapshot agents must have distinct DNs');
      agents.set(agent.dn, agent);
    }
    const leases = new Map<string, Lease>();
    for (const lease of parsed.leases ?? []) {
      assert(typeof lease.owner === 'string' && !leases.has(lease.owner) && Number.isSafeInteger(lease.renewedIndex), 'snapshot leases must have distinct owners');
      leases.set(lease.owner, lease);
    }
    const shardMap = parsed.shardMap ?? null;
    assert(shardMap === null || (typeof shardMap.shardId === 'string' && Array.isArray(shardMap.shardIds) && shardMap.shardIds.includes(shardMap.shardId) && Number.isSafeInteger(shardMap.version)), 'snapshot shardMap must name this shard among its ids');
    const placements = new Map<string, MemberPlacement>();
    for (const p of parsed.placements ?? []) {
      // The address reaches net.connect on this replica: checked as placeMember checks it.
      const client = p.client ?? null;
      const admin = p.admin ?? null;
      const addressOk = (a: string | null): boolean => a === null || checkRaftAddress(a, 'address') === null;
      assert(typeof p.replica === 'string' && (p.store === null || typeof p.store === 'string') && checkRaftAddress(p.raft, 'raft') === null && addressOk(client) && addressOk(admin) && !placements.has(p.replica), 'snapshot placements must name distinct replicas, each with a store (or null) and a Raft address');
      placements.set(p.replica, { replica: p.replica, store: p.store, raft: p.raft, client, admin });
    }
    let queues: ServiceQueues;
    let services: ServiceTable;
    try {
      queues = ServiceQueues.fromEntries(parsed.queues ?? [], this.#queueLimits);
      services = ServiceTable.fromList(parsed.services ?? []);
    } catch (err) {
      assert.fail((err as Error).message);
    }
    this.#agents = agents;
    this.#leases = leases;
    this.#queues = queues;
    this.#services = services;
    this.#shardMap = shardMap;
    this.#placements = placements;
    this.#ownerOf.clear();
    this.#deadlineHintMs = Number.NEGATIVE_INFINITY;
    this.#sessions = SessionTable.fromData(parsed.sessions, this.#sessionLimits);
    this.#appliedIndex = parsed.appliedIndex;
    this.#timeMs = parsed.timeMs;
    this.#feed = new ChangeFeed(this.#changeFeedMax, parsed.appliedIndex);
  }

  // ---- queries (local reads; linearizable when served after a ReadIndex) ----

  /** Change records held for feeds now (at most the ring's capacity). */
  get feedRecords(): number {
    return this.#feed.size;
  }

  get appliedIndex(): number {
    return this.#appliedIndex;
  }

  /** Time of the latest applied entry (the shard's logical now). */
  get timeMs(): number {
    return this.#timeMs;
  }

  get sessionCount(): number {
    return this.#sessions.size;
  }

  /** The agent as it is at `atMs` (default: the last applied entry's time), timers settled. */
  getAgent(dn: string, atMs: number = this.#timeMs): Agent | null {
    const agent = this.#agents.get(dn);
    return agent ? ops.settle(agent, Math.max(atMs, this.#timeMs), agent.version).agent : null;
  }

  /** Agents sorted by DN, optionally only those in `state` and/or having `skill` at level ≥ skillLevelMin. */
  listAgents(filter: AgentFilter = {}, atMs: number = this.#timeMs): Agent[] {
    const out: Agent[] = [];
    for (const dn of this.#sortedDns()) {
      const agent = this.getAgent(dn, atMs)!;
      if (filter.state !== undefined && agent.status.state !== filter.state) continue;
      if (filter.skill !== undefined) {
        const level = Object.hasOwn(agent.skills, filter.skill) ? agent.skills[filter.skill]! : -1;
        if (level < 0 || level < (filter.skillLevelMin ?? 0)) continue;
      }
      out.push(agent);
    }
    return out;
  }

  /** The replicated shard map (null: none set yet, every DN accepted). */
  get shardMap(): ShardMap | null {
    return this.#shardMap;
  }

  /** Members placed by placeMember, by replica id (the same map until one changes). */
  get placements(): ReadonlyMap<string, MemberPlacement> {
    return this.#placements;
  }

  /** The waiting calls of `service` in arrival order, or of every service this shard
   * holds (services sorted). */
  queueEntries(service?: string): QueueEntry[] {
    return this.#queues.entries(service);
  }

  /** The service definitions this shard owns, sorted by number. */
  services(): ServiceDefinition[] {
    return this.#services.list();
  }

  /** Every SIP node's lease on this shard, sorted by owner. */
  leases(): Lease[] {
    return [...this.#leases.keys()].sort().map((owner) => this.#leases.get(owner)!);
  }

  /** Every held reservation or call, sorted by DN. */
  reservations(): ReservationView[] {
    const out: ReservationView[] = [];
    for (const dn of this.#sortedDns()) {
      const { status } = this.#agents.get(dn)!;
      if (status.state === 'RESERVED' || status.state === 'BUSY') out.push({ dn, state: status.state, reservation: status.reservation });
    }
    return out;
  }

  /** Change records after `index`. `truncated`: some were dropped; re-read listAgents(). */
  changesSince(index: number): ChangesPage {
    return this.#feed.since(index);
  }

  /** Timers due at `nowMs` that no entry has applied yet; the leader proposes `tick` when
   * this is non-empty. Sorted by time, then DN. */
  dueTimers(nowMs: number): DueTimer[] {
    const due: DueTimer[] = [];
    for (const [dn, agent] of this.#agents) {
      if (agent.status.state === 'WRAP_UP' && agent.status.wrapUpEndsMs <= nowMs) {
        due.push({ dn, kind: 'wrapUpEnd', atMs: agent.status.wrapUpEndsMs });
      }
      const expired = agent.contacts.filter((c) => c.expiresAtMs <= nowMs);
      if (expired.length > 0) due.push({ dn, kind: 'contactExpiry', atMs: Math.min(...expired.map((c) => c.expiresAtMs)) });
    }
    return due.sort((a, b) => a.atMs - b.atMs || (a.dn < b.dn ? -1 : a.dn > b.dn ? 1 : 0));
  }

  /**
   * No timer or reservation TTL falls due before the returned time (Infinity: none at all),
   * so the leader's 50 ms duty can skip its scans of every agent until then. A lower bound
   * kept as agents change, made exact by a scan once it has passed. Local bookkeeping: it
   * changes no replicated state.
   */
  quietUntilMs(nowMs: number): number {
    if (nowMs < this.#deadlineHintMs) return this.#deadlineHintMs;
    let earliest = Number.POSITIVE_INFINITY;
    for (const agent of this.#agents.values()) earliest = Math.min(earliest, earliestDeadlineMs(agent));
    this.#deadlineHintMs = earliest;
    return earliest;
  }

  #noteDeadlines(agent: Agent): void {
    const at = earliestDeadlineMs(agent);
    if (at < this.#deadlineHintMs) this.#deadlineHintMs = at;
  }

  /** Unanswered reservations whose TTL has run out at `nowMs`; the leader proposes
   * `expire {dn, reservationId}` for each. Sorted by expiry, then DN. */
  expiredReservations(nowMs: number): { dn: string; reservationId: string; expiresAtMs: number }[] {
    const out: { dn: string; reservationId: string; expiresAtMs: number }[] = [];
    for (const [dn, agent] of this.#agents) {
      const { status } = agent;
      if (status.state === 'RESERVED' && status.reservation.expiresAtMs <= nowMs) {
        out.push({ dn, reservationId: status.reservation.reservationId, expiresAtMs: status.reservation.expiresAtMs });
      }
    }
    return out.sort((a, b) => a.expiresAtMs - b.expiresAtMs || (a.dn < b.dn ? -1 : a.dn > b.dn ? 1 : 0));
  }
}

/** When the agent's next timer (wrap-up end, contact expiry) or reservation TTL falls due. */
function earliestDeadlineMs(agent: Agent): number {
  const { status } = agent;
  let at = status.state === 'WRAP_UP' ? status.wrapUpEndsMs : status.state === 'RESERVED' ? status.reservation.expiresAtMs : Number.POSITIVE_INFINITY;
  for (const c of agent.contacts) if (c.expiresAtMs < at) at = c.expiresAtMs;
  return at;
}
