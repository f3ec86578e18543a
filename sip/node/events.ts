// The node's live event log: agent state changes and this node's call events, each with a
// resumable position, kept in a bounded ring (the SSE stream and the webhooks read it).
//
// Where events come from (README "Live events"):
// - `agent.state`: the shards' change feeds, which every SIP node follows; so every node
//   has every agent's changes, in each shard's log order (the shard's log index is in the
//   event). The first event of a DN after the node starts is the state it found.
// - `call.*`: this node's B2BUA, for the calls whose legs it holds. The log is per node:
//   every event names its node; the cluster-scope stream (events-cluster.ts) merges every
//   SIP node's.
//
// A position is `<epoch>-<seq>`: seq counts this node's events from 1, and the epoch (the
// node's start time, base 36) tells a position of an earlier life of the node, whose events
// are gone, from one of this life. Resuming after a position the ring no longer holds, or
// from another epoch, starts with an explicit `gap` (never a silent skip).
// Pure apart from the wall clock it is given: no sockets, no timers.

import assert from 'node:assert';

export const callEventTypes = ['call.arrived', 'call.queued', 'call.offered', 'call.answered', 'call.abandoned', 'call.ended'] as const;
export type CallEventType = (typeof callEventTypes)[number];
export type EventType = 'agent.state' | CallEventType;

/** A call event as the B2BUA reports it (the log adds position, time and node). */
export type CallEvent = Readonly<{
  type: CallEventType;
  callId: string;
  service: string;
  /** The agent offered / answering / that answered; absent before one is chosen. */
  dn?: string;
  /** call.answered, call.abandoned: ms from the caller's INVITE to now (monotonic clock). */
  waitMs?: number;
  /** call.answered: answered within the service's service-level threshold. */
  withinServiceLevel?: boolean;
  /** call.abandoned: the caller gave up while its call waited in the queue (else ringing). */
  whileQueued?: boolean;
  /** call.queued: the call went back to the queue after an attempt on an agent failed. */
  requeued?: boolean;
  /** call.ended: the CDR outcome and who ended it. */
  outcome?: string;
  endedBy?: 'caller' | 'agent' | 'node';
  talkMs?: number;
  /** call.arrived: the caller's URI. */
  from?: string;
}>;

/** Where the B2BUA reports call events (a no-op sink when nothing listens). */
export type CallEventSink = Readonly<{ call(ev: CallEvent): void }>;

export type AgentStateEvent = Readonly<{ dn: string; state: string; reason?: string; shard: string | null; index: number }>;

export type LoggedEvent = Readonly<{
  /** `<epoch>-<seq>`: the SSE id and the webhook's event id. */
  id: string;
  seq: number;
  type: EventType;
  /** ISO-8601, this node's wall clock when the event was logged. */
  at: string;
  node: string;
  data: CallEvent | AgentStateEvent;
}>;

/** What a reader resuming after a position gets: the events it missed that are still held,
 * and, when some are not, a gap saying which (`fromSeq..toSeq` of `epoch`, or all of an
 * earlier epoch: `toSeq` null). */
export type Resume = Readonly<{
  gap: Readonly<{ epoch: string; fromSeq: number; toSeq: number | null; reason: 'expired' | 'other-epoch' | 'bad-position' }> | null;
  events: readonly LoggedEvent[];
}>;

export type EventLogOptions = Readonly<{ nodeId: string; retain: number; now: () => number; epoch?: string }>;

export type EventListener = (ev: LoggedEvent) => void;

export class EventLog implements CallEventSink {
  readonly epoch: string;
  readonly #ring: (LoggedEvent | undefined)[];
  #nextSeq = 1;
  readonly #listeners = new Set<EventListener>();
  readonly #agentStates = new Map<string, string>();

  constructor(private readonly o: EventLogOptions) {
    assert(Number.isInteger(o.retain) && o.retain >= 1, 'retain ≥ 1');
    this.epoch = o.epoch ?? o.now().toString(36);
    this.#ring = new Array<LoggedEvent | undefined>(o.retain);
  }

  get nodeId(): string {
    return this.o.nodeId;
  }

  /** Seq of the oldest event still held (nextSeq when none). */
  get oldestSeq(): number {
    return Math.max(1, this.#nextSeq - this.o.retain);
  }

  get lastSeq(): number {
    return this.#nextSeq - 1;
  }

  /** The position of the last event logged: resuming after it gives only new events. */
  get position(): string {
    return `${this.epoch}-${this.lastSeq}`;
  }

  call(ev: CallEvent): void {
    this.#append(ev.type, ev);
  }

  /** An agent as the change feed shows it: logged when its state differs from the last one
   * this node saw (a registration or a skill change is not a state change). */
  agent(ev: AgentStateEvent): void {
    const key = `${ev.state}\u0000${ev.reason ?? ''}`;
    if (this.#agentStates.get(ev.dn) === key) return;
    this.#agentStates.set(ev.dn, key);
    this.#append('agent.state', ev);
  }

  /** Listeners hear each event as it is logged, after it is in the ring. */
  subscribe(l: EventListener): () => void {
    this.#listeners.add(l);
    return () => this.#listeners.delete(l);
  }

  /** The held events after `position` (null: from the oldest held); see Resume. */
  after(position: string | null): Resume {
    const { gap, fromSeq } = this.resumeFrom(position);
    const events: LoggedEvent[] = [];
    for (let seq = fromSeq; seq <= this.lastSeq; seq++) events.push(this.get(seq)!);
    return { gap, events };
  }

  /** Where a reader resuming after `position` starts (the seq of its first event, which
   * may not be logged yet), and the gap before it, if any. */
  resumeFrom(position: string | null): { gap: Resume['gap']; fromSeq: number } {
    if (position === null) return { gap: null, fromSeq: this.oldestSeq };
    const parsed = parsePosition(position);
    if (parsed === null) return { gap: { epoch: this.epoch, fromSeq: this.oldestSeq, toSeq: null, reason: 'bad-position' }, fromSeq: this.oldestSeq };
    if (parsed.epoch !== this.epoch || parsed.seq > this.lastSeq) {
      // A position of an earlier life (or one we never gave): its later events are gone.
      return { gap: { epoch: parsed.epoch, fromSeq: parsed.seq + 1, toSeq: null, reason: 'other-epoch' }, fromSeq: this.oldestSeq };
    }
    const first = parsed.seq + 1;
    if (first < this.oldestSeq) return { gap: { epoch: this.epoch, fromSeq: first, toSeq: this.oldestSeq - 1, reason: 'expired' }, fromSeq: this.oldestSeq };
    return { gap: null, fromSeq: first };
  }

  /** The event `seq` if the ring still holds it. */
  get(seq: number): LoggedEvent | undefined {
    return seq >= this.oldestSeq && seq <= this.lastSeq ? this.#ring[seq % this.o.retain] : undefined;
  }

  #append(type: EventType, data: CallEvent | AgentStateEvent): void {
    const seq = this.#nextSeq++;
    const ev: LoggedEvent = { id: `${this.epoch}-${seq}`, seq, type, at: new Date(this.o.now()).toISOString(), node: this.o.nodeId, data };
    this.#ring[seq % this.o.retain] = ev;
    for (const l of this.#listeners) l(ev);
  }
}

/** `<epoch>-<seq>` → its parts, or null when malformed. */
export function parsePosition(text: string): { epoch: string; seq: number } | null {
  const m = /^([0-9a-z]{1,16})-(0|[1-9][0-9]{0,15})$/.exec(text.trim());
  if (m === null) return null;
  const seq = Number(m[2]);
  return Number.isSafeInteger(seq) ? { epoch: m[1]!, seq } : null;
}
