// An in-memory cluster of real Raft cores for the interaction scripts: each node persists
// its Ready into an in-memory storage model, applies committed entries to a tiny state
// machine (the list of normal entries' data), and queues its messages on a network that
// delivers only when the script says so. Partitions and drops are explicit.
// Nothing is random except each node's seeded PRNG for election timeouts.
import type {
  ConfState,
  Entry,
  HardState,
  Message,
  NodeId,
  RaftConfig,
  RaftCore,
  ReadFailure,
  ReadState,
  Snapshot,
} from '../../../raft/types.js';
import { defaultRaftConfig } from '../../../raft/core.js';
import type { PlantedBugs } from '../../../raft/core/planted-bugs.js';
import { type BugName, createRaftCoreWithBugs, plantBugs } from '../../../raft/sim/planted-bugs.js';

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** mulberry32: a tiny seeded PRNG, so election timeouts are reproducible. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

type Stored = { hardState: HardState; snapshot: Snapshot | null; entries: Entry[] };

export class SimNode {
  core: RaftCore | null;
  readonly stored: Stored = { hardState: { term: 0, vote: null, commit: 0 }, snapshot: null, entries: [] };
  /** The state machine: [index, data] of every applied normal entry. */
  values: Array<[number, string]> = [];
  appliedIndex = 0;
  readStates: ReadState[] = [];
  readFailures: ReadFailure[] = [];

  constructor(
    readonly id: NodeId,
    readonly config: RaftConfig,
    readonly initialConf: ConfState,
    readonly bugs: PlantedBugs,
  ) {
    this.core = createRaftCoreWithBugs(config, {
      hardState: this.stored.hardState, snapshot: null, entries: [], initialConf, applied: 0,
    }, bugs);
  }

  live(): RaftCore {
    if (this.core === null) throw new Error(`node ${this.id} is down`);
    return this.core;
  }

  /** Handles one Ready in the documented order; returns its messages. */
  processReady(): Message[] {
    const core = this.live();
    if (!core.hasReady()) return [];
    const rd = core.ready();
    if (rd.snapshot !== null) {
      this.stored.snapshot = rd.snapshot;
      // An installed snapshot replaces the whole log.
      this.stored.entries = [];
    }
    if (rd.entries.length > 0) {
      // Overwrite from the first entry's index on, dropping whatever followed.
      const from = rd.entries[0]!.index;
      const keep = this.stored.entries.findIndex((e) => e.index >= from);
      if (keep >= 0) this.stored.entries.length = keep;
      this.stored.entries.push(...rd.entries);
    }
    if (rd.hardState !== null) this.stored.hardState = rd.hardState;
    if (rd.snapshot !== null) this.restoreStateMachine(rd.snapshot);
    for (const e of rd.committed) {
      if (e.index !== this.appliedIndex + 1) throw new Error(`node ${this.id} applies ${e.index} after ${this.appliedIndex}`);
      if (e.kind === 'normal') this.values.push([e.index, decoder.decode(e.data)]);
      this.appliedIndex = e.index;
    }
    this.readStates.push(...rd.readStates);
    this.readFailures.push(...rd.readFailures);
    core.advance(rd);
    return [...rd.messages];
  }

  private restoreStateMachine(snap: Snapshot): void {
    const parsed = JSON.parse(decoder.decode(snap.data)) as { values: Array<[number, string]> };
    this.values = parsed.values;
    this.appliedIndex = snap.meta.index;
  }

  /** compact() at `index` (default: applied) with the state machine serialized at it. */
  compact(index: number, padBytes: number): void {
    const values = this.values.filter(([i]) => i <= index);
    const data = encoder.encode(JSON.stringify({ values, pad: 'x'.repeat(padBytes) }));
    this.live().compact(index, data);
    // The driver also drops the compacted entries from storage.
    const term = this.stored.entries.find((e) => e.index === index)?.term ?? this.stored.snapshot?.meta.term ?? 0;
    const conf = this.live().status().conf;
    this.stored.snapshot = { meta: { index, term, conf }, data };
    this.stored.entries = this.stored.entries.filter((e) => e.index > index);
  }

  crash(): void {
    this.core = null;
  }

  restart(): void {
    const snap = this.stored.snapshot;
    this.values = snap !== null ? (JSON.parse(decoder.decode(snap.data)) as { values: Array<[number, string]> }).values : [];
    this.appliedIndex = snap?.meta.index ?? 0;
    this.readStates = [];
    this.readFailures = [];
    this.core = createRaftCoreWithBugs(this.config, {
      hardState: this.stored.hardState,
      snapshot: snap,
      entries: this.stored.entries,
      initialConf: this.initialConf,
      applied: this.appliedIndex,
    }, this.bugs);
  }
}

export type ClusterOptions = {
  preVote: boolean;
  checkQuorum: boolean;
  overrides: Partial<RaftConfig>;
  /** Deliberate core bugs to plant in every node (none by default). */
  bugs?: Iterable<BugName>;
};

export class SimCluster {
  readonly nodes = new Map<NodeId, SimNode>();
  queue: Message[] = [];
  /** Node → partition group; nodes in different groups cannot talk. */
  private groups = new Map<NodeId, number>();
  nowMs = 1_000;
  initialConf: ConfState = { voters: [], learners: [] };
  trace: string[] | null = null;

  constructor(private readonly options: ClusterOptions) {}

  addNode(id: NodeId, initialConf: ConfState): SimNode {
    if (this.nodes.has(id)) throw new Error(`node ${id} exists`);
    const seed = [...id].reduce((h, c) => Math.imul(h ^ c.charCodeAt(0), 16777619), 2166136261);
    const config: RaftConfig = {
      ...defaultRaftConfig(id, seededRandom(seed), () => this.nowMs),
      preVote: this.options.preVote,
      checkQuorum: this.options.checkQuorum,
      ...this.options.overrides,
    };
    const node = new SimNode(id, config, initialConf, plantBugs(this.options.bugs ?? []));
    this.nodes.set(id, node);
    return node;
  }

  node(id: NodeId): SimNode {
    const n = this.nodes.get(id);
    if (n === undefined) throw new Error(`unknown node ${id}`);
    return n;
  }

  connected(a: NodeId, b: NodeId): boolean {
    return (this.groups.get(a) ?? 0) === (this.groups.get(b) ?? 0);
  }

  partition(groups: NodeId[][]): void {
    this.groups.clear();
    groups.forEach((g, i) => g.forEach((id) => this.groups.set(id, i + 1)));
  }

  heal(): void {
    this.groups.clear();
  }

  /** Loss rules: of the messages matching `filter`, let `skip` pass, then lose `count`. */
  private lossRules: Array<{ filter: (m: Message) => boolean; skip: number; count: number }> = [];

  lose(filter: (m: Message) => boolean, skip: number, count: number): void {
    this.lossRules.push({ filter, skip, count });
  }

  private lost(m: Message): boolean {
    for (const r of this.lossRules) {
      if (r.count === 0 || !r.filter(m)) continue;
      if (r.skip > 0) {
        r.skip -= 1;
        continue;
      }
      r.count -= 1;
      return true;
    }
    return false;
  }

  /** Processes the Ready of the given live nodes; returns whether any had one. */
  process(ids: NodeId[]): boolean {
    let any = false;
    for (const id of ids) {
      const n = this.node(id);
      if (n.core === null || !n.core.hasReady()) continue;
      any = true;
      for (const m of n.processReady()) {
        if (this.nodes.get(m.to)?.core == null) this.trace?.push(`dropped (node down): ${describe(m)}`);
        else if (this.lost(m)) this.trace?.push(`lost: ${describe(m)}`);
        else if (this.connected(m.from, m.to)) this.queue.push(m);
        else this.trace?.push(`dropped by partition: ${describe(m)}`);
      }
    }
    return any;
  }

  /** Delivers (steps) the queued messages matching `filter`, in order; returns the count. */
  deliver(filter: (m: Message) => boolean): number {
    const now = this.queue.filter(filter);
    this.queue = this.queue.filter((m) => !filter(m));
    for (const m of now) {
      const to = this.nodes.get(m.to);
      if (to?.core == null || !this.connected(m.from, m.to)) continue;
      this.trace?.push(describe(m));
      to.core.step(m);
    }
    return now.length;
  }

  drop(filter: (m: Message) => boolean): number {
    const before = this.queue.length;
    this.queue = this.queue.filter((m) => !filter(m));
    return before - this.queue.length;
  }

  /** Processes and delivers until nothing moves (bounded). */
  stabilize(ids: NodeId[]): void {
    const set = new Set(ids);
    for (let round = 0; round < 10_000; round++) {
      const processed = this.process(ids);
      const delivered = this.deliver((m) => set.has(m.from) && set.has(m.to));
      if (!processed && delivered === 0) return;
    }
    throw new Error('cluster did not stabilize within 10000 rounds');
  }

  liveIds(): NodeId[] {
    return [...this.nodes.values()].filter((n) => n.core !== null).map((n) => n.id);
  }
}

/** Three voters '1', '2', '3' with pre-vote and check-quorum, '1' ticked until it leads
 * and the election's messages delivered (for tests of a leader's steady state). */
export function electedThree(overrides: Partial<RaftConfig>): SimCluster {
  const c = new SimCluster({ preVote: true, checkQuorum: true, overrides, bugs: [] });
  c.initialConf = { voters: ['1', '2', '3'], learners: [] };
  for (const id of c.initialConf.voters) c.addNode(id, c.initialConf);
  const leader = c.node('1').live();
  for (let i = 0; i < 60 && leader.status().role !== 'leader'; i++) leader.tick();
  c.stabilize(c.liveIds());
  if (leader.status().role !== 'leader') throw new Error('1 did not become leader');
  return c;
}

export function describe(m: Message): string {
  const base = `${m.from}->${m.to} ${m.type} t${m.term}`;
  switch (m.type) {
    case 'append':
      return `${base} prev=${m.prevIndex}/${m.prevTerm} entries=${m.entries.map((e) => `${e.index}/${e.term}`).join(',')} commit=${m.commit}`;
    case 'appendResp':
      return `${base} ${m.reject ? `reject index=${m.index} hint=${m.hintIndex}/${m.hintTerm}` : `index=${m.index}`}`;
    case 'snapshot':
      return `${base} snap=${m.meta.index}/${m.meta.term} offset=${m.offset} len=${m.chunk.byteLength} total=${m.totalBytes}${m.done ? ' done' : ''}`;
    case 'snapshotResp':
      return `${base} snap=${m.index} offset=${m.offset}${m.done ? ' done' : ''}${m.reject ? ' reject' : ''}`;
    case 'vote':
    case 'preVote':
      return `${base} last=${m.lastLogIndex}/${m.lastLogTerm}${m.transfer ? ' transfer' : ''}`;
    case 'voteResp':
    case 'preVoteResp':
      return `${base}${m.reject ? ' reject' : ''}`;
    case 'heartbeat':
      return `${base} commit=${m.commit} ctx=${m.context}`;
    case 'heartbeatResp':
    case 'readIndex':
      return `${base} ctx=${m.context}`;
    case 'readIndexResp':
      return `${base} ctx=${m.context} index=${m.index}${m.reject ? ' reject' : ''}`;
    default:
      return base;
  }
}
