// Simulated clients of the replicated register. Each client runs one operation at a time
// against the node it believes is the leader (following NOT_LEADER hints, guessing after a
// timeout), and records what it saw as a history: invoke, then ok / fail (definitely not
// applied) / info (outcome unknown: timeout or the node crashed). Writes and cas go
// through propose; reads through ReadIndex.

import type { NodeId } from '../types.js';
import type { RegisterCommand, RegisterValue } from './cas-register.js';
import type { HistoryEvent, OpInput, OpOutput } from './linearizability.js';
import type { Prng } from './prng.js';
import type { Scheduler } from './scheduler.js';
import type { Trace } from './trace.js';
import { clientOpsIssuedMax, clientOpsPerRunMax, clientTimeoutMs, keysCount } from './limits.js';

export type ClientReply = Readonly<
  | { type: 'ok'; output: OpOutput }
  | { type: 'fail'; reason: string; leaderHint: NodeId | null }
  | { type: 'info'; reason: string }
>;

/** What the cluster offers a client: the request has arrived at `node`. */
export interface ClientPort {
  members(): readonly NodeId[];
  submit(node: NodeId, command: RegisterCommand, done: (r: ClientReply) => void): void;
  read(node: NodeId, key: string, context: string, done: (r: ClientReply) => void): void;
}

export type ClientProfile = Readonly<{ readP: number; casP: number; thinkMsMax: number; stickyP: number }>;

/** Bounds on one group's clients: ops that count for the checker, and ops issued at all. */
export type ClientLimits = Readonly<{ opsPerRunMax: number; opsIssuedMax: number }>;

type ClientState = { id: number; leaderGuess: NodeId | null; outstanding: number | null; lastSeen: Map<string, RegisterValue> };

export const registerKeys: readonly string[] = Array.from({ length: keysCount }, (_, i) => String.fromCharCode(97 + i));

export class Clients {
  readonly history: HistoryEvent[] = [];
  private clock = 0;
  private issued = 0;
  private failed = 0;
  private readonly clients: ClientState[] = [];
  private stopped = false;

  constructor(
    private readonly sched: Scheduler,
    private readonly prng: Prng,
    private readonly port: ClientPort,
    private readonly profile: ClientProfile,
    private readonly trace: Trace,
    count: number,
    private readonly limits: ClientLimits = { opsPerRunMax: clientOpsPerRunMax, opsIssuedMax: clientOpsIssuedMax },
    /** Names the group in the trace, empty for a run of one group. */
    private readonly label = '',
  ) {
    for (let id = 1; id <= count; id++) this.clients.push({ id, leaderGuess: null, outstanding: null, lastSeen: new Map() });
  }

  start(): void {
    for (const c of this.clients) this.sched.after(this.prng.range(0, 50), () => this.issue(c));
  }

  /** Stop issuing; what is in flight still completes or times out. */
  stop(): void {
    this.stopped = true;
  }

  get opsIssued(): number {
    return this.issued;
  }

  private record(ev: HistoryEvent): void {
    this.history.push(ev);
    this.trace.record(this.sched.nowMs, `client${this.label} ${JSON.stringify(ev)}`);
  }

  private nextInput(c: ClientState): OpInput {
    const key = this.prng.pick(registerKeys);
    const value = c.id * 100_000 + this.issued;
    const r = this.prng.next();
    if (r < this.profile.readP) return { kind: 'read', key };
    if (r < this.profile.readP + this.profile.casP) return { kind: 'cas', key, expected: c.lastSeen.get(key) ?? null, value };
    return { kind: 'write', key, value };
  }

  private target(c: ClientState): NodeId {
    if (c.leaderGuess !== null && this.prng.chance(this.profile.stickyP)) return c.leaderGuess;
    return this.prng.pick(this.port.members());
  }

  private issue(c: ClientState): void {
    // Failed ops cost the checker nothing (they are left out), so only the others count.
    if (this.stopped || this.issued - this.failed >= this.limits.opsPerRunMax || this.issued >= this.limits.opsIssuedMax) return;
    const op = ++this.issued;
    const input = this.nextInput(c);
    const node = this.target(c);
    c.outstanding = op;
    this.record({ type: 'invoke', op, client: c.id, time: ++this.clock, input });
    const finish = (r: ClientReply): void => {
      if (c.outstanding !== op) return; // already timed out
      c.outstanding = null;
      this.complete(c, op, input, node, r);
      // Without a leader to try, back off as a real client would.
      const pauseMs = r.type === 'fail' && r.leaderHint === null ? this.prng.range(20, 80) : 0;
      this.sched.after(pauseMs + this.prng.next() * this.profile.thinkMsMax, () => this.issue(c));
    };
    this.sched.after(clientTimeoutMs, () => finish({ type: 'info', reason: 'timeout' }));
    const reply = (r: ClientReply): void => this.sched.after(this.prng.range(1, 5), () => finish(r));
    this.sched.after(this.prng.range(1, 5), () => {
      if (input.kind === 'read') {
        this.port.read(node, input.key, `c${c.id}-o${op}`, reply);
        return;
      }
      const command: RegisterCommand =
        input.kind === 'write'
          ? { client: c.id, op, kind: 'write', key: input.key, value: input.value }
          : { client: c.id, op, kind: 'cas', key: input.key, expected: input.expected, value: input.value };
      this.port.submit(node, command, reply);
    });
  }

  private complete(c: ClientState, op: number, input: OpInput, node: NodeId, r: ClientReply): void {
    const time = ++this.clock;
    if (r.type === 'ok') {
      c.leaderGuess = node;
      if (input.kind === 'read') c.lastSeen.set(input.key, r.output.value ?? null);
      if (input.kind === 'cas') c.lastSeen.set(input.key, r.output.ok === true ? input.value : (r.output.current ?? null));
      if (input.kind === 'write') c.lastSeen.set(input.key, input.value);
      this.record({ type: 'ok', op, client: c.id, time, output: r.output });
      return;
    }
    if (r.type === 'fail') {
      this.failed++;
      c.leaderGuess = r.leaderHint;
      this.record({ type: 'fail', op, client: c.id, time, reason: r.reason });
      return;
    }
    c.leaderGuess = null;
    this.record({ type: 'info', op, client: c.id, time, reason: r.reason });
  }
}
