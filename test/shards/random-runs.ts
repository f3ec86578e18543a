// Random command sequences for the property tests: a fast-check arbitrary of actions and a
// runner that applies them to a state machine through the real encoder, as two clients and
// a leader would, recording a history for the checker. Kept apart from the tests so each
// property reads as one statement.

import fc from 'fast-check';
import { encodeProposal } from '../../shards/commands.js';
import { ShardStateMachine } from '../../shards/state-machine.js';
import type { Command, ShardResult } from '../../shards/types.js';
import { HistoryRecorder, type HistoryOpName } from '../support/history.js';

const dns = ['100', '101', '102'] as const;
const ids = ['r1', 'r2', 'r3', 'r4', 'r5'] as const;
const owners = ['sipA', 'sipB'] as const;

const dn = fc.constantFrom(...dns);
const rid = fc.constantFrom(...ids);

export const commandArb: fc.Arbitrary<Command> = fc.oneof(
  { weight: 2, arbitrary: fc.record({ type: fc.constant('provision' as const), dn, name: fc.constantFrom('A', 'B'), skills: fc.constantFrom<Readonly<Record<string, number>>>({ s: 10 }, { s: 90, t: 5 }), wrapUpMs: fc.constantFrom(0, 3000), maxNoAnswer: fc.constantFrom(0, 2), credentials: fc.constant(null) }) },
  { weight: 1, arbitrary: fc.record({ type: fc.constant('deprovision' as const), dn }) },
  { weight: 3, arbitrary: fc.record({ type: fc.constantFrom('login' as const, 'ready' as const, 'logout' as const), dn }) },
  { weight: 1, arbitrary: fc.record({ type: fc.constant('notReady' as const), dn, reason: fc.constantFrom('lunch', 'break') }) },
  { weight: 1, arbitrary: fc.record({ type: fc.constant('register' as const), dn, uri: fc.constantFrom('sip:a@h', 'sip:b@h'), expiresMs: fc.constantFrom(0, 2000, 60_000), q: fc.constantFrom(0.5, 1), callId: fc.constantFrom('x', 'y'), cseq: fc.integer({ min: 1, max: 4 }) }) },
  { weight: 1, arbitrary: fc.record({ type: fc.constant('unregister' as const), dn, uri: fc.constantFrom(null, 'sip:a@h') }) },
  { weight: 6, arbitrary: fc.record({ type: fc.constant('reserve' as const), dn, reservationId: rid, callId: fc.constant('k'), owner: fc.constantFrom(...owners), ttlMs: fc.constantFrom(1000, 5000), orphanHoldMs: fc.constantFrom(0, 3000) }) },
  { weight: 4, arbitrary: fc.record({ type: fc.constant('confirm' as const), dn, reservationId: rid }) },
  { weight: 4, arbitrary: fc.record({ type: fc.constant('release' as const), dn, reservationId: rid, outcome: fc.constantFrom('completed' as const, 'no-answer' as const, 'abandoned' as const) }) },
  { weight: 1, arbitrary: fc.record({ type: fc.constant('releaseByOwner' as const), owner: fc.constantFrom(...owners) }) },
);

export type Action = Readonly<
  | { kind: 'client'; client: 0 | 1; command: Command; answerLost: boolean; dtMs: number }
  | { kind: 'retry'; client: 0 | 1; pick: number; dtMs: number }
  | { kind: 'leader'; what: 'tick' | 'expire'; dtMs: number }
  /** One step of a caller's call flow: reserve its DN, then confirm, then release. */
  | { kind: 'call'; caller: number; dn: string; dtMs: number }
>;

const dtMs = fc.constantFrom(0, 0, 1, 400, 1500, 4000);
const client = fc.constantFrom(0 as const, 1 as const);
const callArb = fc.record({ kind: fc.constant('call' as const), caller: fc.integer({ min: 0, max: 3 }), dn, dtMs });

/** Only call flows: four callers competing for three agents, as SIP nodes do. */
export const callFlowsArb: fc.Arbitrary<Action[]> = fc.array(callArb, { minLength: 5, maxLength: 60, size: 'medium' });

export const actionsArb: fc.Arbitrary<Action[]> = fc.array(
  fc.oneof(
    { weight: 10, arbitrary: fc.record({ kind: fc.constant('client' as const), client, command: commandArb, answerLost: fc.boolean(), dtMs }) },
    { weight: 2, arbitrary: fc.record({ kind: fc.constant('retry' as const), client, pick: fc.nat(), dtMs }) },
    { weight: 2, arbitrary: fc.record({ kind: fc.constant('leader' as const), what: fc.constantFrom('tick' as const, 'expire' as const), dtMs }) },
    { weight: 6, arbitrary: callArb },
  ),
  { minLength: 1, maxLength: 80, size: 'medium' },
);

/** Provision, log in and ready every DN first, in a DN order given by the run, so the
 * state machine's Map order differs from sorted order. */
export const setupOrderArb = fc.shuffledSubarray([...dns], { minLength: dns.length, maxLength: dns.length });

type Pending = { seq: number; command: Command; firstResult: ShardResult; process: string };

export type RunOptions = Readonly<{
  /** Replace each retry by an agent-neutral entry at the same time, to compare with a run that has them. */
  skipRetries?: boolean;
  /** Replace the machine by one restored from its snapshot after this many entries. */
  restoreAfter?: number;
  /** Release every held reservation at the end so the leak check applies. */
  drain?: boolean;
  /** Sabotage: roll the machine back after the first granted reserve, as a replica that
   * lost an acknowledged entry would (the client still gets the grant). */
  loseFirstGrant?: boolean;
}>;

export type RunOutcome = {
  sm: ShardStateMachine;
  /** Result per entry index (retries included). */
  results: Map<number, ShardResult>;
  /** Retried requests: the first result and the retry's. */
  retries: { first: ShardResult; again: ShardResult }[];
  history: HistoryRecorder;
};

const historyOps: Partial<Record<Command['type'], HistoryOpName>> = {
  reserve: 'reserve', confirm: 'confirm', release: 'release', expire: 'expire', releaseByOwner: 'releaseByOwner',
  provision: 'provision', deprovision: 'deprovision', login: 'login', ready: 'ready', notReady: 'notReady', logout: 'logout',
  register: 'register', unregister: 'unregister',
};

/** Applies `setup` then `actions`; deterministic for equal inputs. */
export function run(setup: readonly string[], actions: readonly Action[], options: RunOptions = {}): RunOutcome {
  let sm = new ShardStateMachine();
  let index = 0;
  let nowMs = 1_000_000;
  const results = new Map<number, ShardResult>();
  const retries: RunOutcome['retries'] = [];
  let lost = false;
  // History time: the entry time plus a tiny strictly increasing step per event, so the
  // sequential order of this run is visible to the checker (equal times are ambiguous).
  let clock = nowMs;
  let events = 0;
  const history = new HistoryRecorder(() => clock + ++events * 1e-6);
  const apply = (command: Command, session: { clientId: string; requestSeq: number; ackedSeq: number } | null): ShardResult | null => {
    index += 1;
    clock = nowMs;
    const before = options.loseFirstGrant && !lost ? sm.snapshot() : null;
    const result = sm.apply({ term: 1, index, kind: 'normal', timestampMs: nowMs, data: encodeProposal({ session, command }) })!;
    results.set(index, result);
    if (before && result.ok && result.type === 'reserved') {
      sm.restore(before);
      lost = true;
    }
    if (options.restoreAfter === index) {
      const restored = new ShardStateMachine();
      restored.restore(sm.snapshot());
      sm = restored;
    }
    return result;
  };
  const clients = [0, 1].map(() => {
    const opened = apply({ type: 'openSession' }, null);
    if (!opened?.ok || opened.type !== 'session') throw new Error('openSession failed');
    return { clientId: opened.clientId, seq: 0, received: new Set<number>(), acked: 0, lost: [] as Pending[] };
  });
  const receive = (c: (typeof clients)[number], seq: number) => {
    c.received.add(seq);
    while (c.received.has(c.acked + 1)) c.received.delete(++c.acked);
  };
  const record = (process: string, command: Command, result: ShardResult | null) => {
    const op = historyOps[command.type];
    if (!op) return;
    if (result === null) {
      history.invoke(process, op, fieldsOf(command));
      return;
    }
    if (!result.ok) history.complete(process, 'fail');
    else history.complete(process, 'ok', 'agent' in result ? result.agent.status.state : command.type === 'deprovision' ? 'ABSENT' : undefined);
  };
  let processSeq = 0;
  const send = (c: (typeof clients)[number], command: Command, answerLost: boolean): ShardResult => {
    c.seq += 1;
    const process = `p${processSeq++}`;
    clock = nowMs;
    record(process, command, null);
    const result = apply(command, { clientId: c.clientId, requestSeq: c.seq, ackedSeq: c.acked })!;
    if (answerLost) c.lost.push({ seq: c.seq, command, firstResult: result, process });
    else {
      record(process, command, result);
      receive(c, c.seq);
    }
    return result;
  };
  const calls = new Map<number, { dn: string; id: string; confirmed: boolean }>();
  let callSeq = 0;
  const callStep = (caller: number, dnToCall: string) => {
    const c = clients[caller % 2]!;
    const call = calls.get(caller);
    if (!call) {
      const id = `call${callSeq++}`;
      const owner = caller % 2 === 0 ? 'sipA' : 'sipB';
      const result = send(c, { type: 'reserve', dn: dnToCall, reservationId: id, callId: id, owner, ttlMs: 60_000 }, false);
      if (result.ok) calls.set(caller, { dn: dnToCall, id, confirmed: false });
    } else if (!call.confirmed) {
      const result = send(c, { type: 'confirm', dn: call.dn, reservationId: call.id }, false);
      if (result.ok) call.confirmed = true;
      else calls.delete(caller);
    } else {
      send(c, { type: 'release', dn: call.dn, reservationId: call.id, outcome: 'completed' }, false);
      calls.delete(caller);
    }
  };
  for (const dnToSetUp of setup) {
    send(clients[0]!, { type: 'provision', dn: dnToSetUp, name: 'S', skills: { s: 50 }, wrapUpMs: 2000, maxNoAnswer: 0, credentials: null }, false);
    send(clients[0]!, { type: 'login', dn: dnToSetUp }, false);
    send(clients[0]!, { type: 'ready', dn: dnToSetUp }, false);
  }
  for (const action of actions) {
    nowMs += action.dtMs;
    if (action.kind === 'client') send(clients[action.client]!, action.command, action.answerLost);
    else if (action.kind === 'call') callStep(action.caller, action.dn);
    else if (action.kind === 'retry') {
      const c = clients[action.client]!;
      if (c.lost.length === 0) continue;
      const [pending] = c.lost.splice(action.pick % c.lost.length, 1);
      // A retry still takes a log entry whose timestamp moves the shard's clock (a wrap-up
      // then ends earlier than it would have), so the run without retries applies an entry
      // in its place that touches no agent: the only effect a retry may have is the passing
      // of time. (openSession only adds a client session, which the comparison ignores.)
      const again = options.skipRetries
        ? (apply({ type: 'openSession' }, null), null)
        : apply(pending!.command, { clientId: c.clientId, requestSeq: pending!.seq, ackedSeq: c.acked });
      clock = nowMs;
      record(pending!.process, pending!.command, pending!.firstResult);
      if (again) retries.push({ first: pending!.firstResult, again });
      receive(c, pending!.seq);
    } else if (action.what === 'tick') apply({ type: 'tick' }, null);
    else {
      for (const due of sm.expiredReservations(nowMs)) apply({ type: 'expire', dn: due.dn, reservationId: due.reservationId }, null);
    }
  }
  // Answers never received stay uncertain (info) in the history.
  for (const c of clients) for (const pending of c.lost) history.complete(pending.process, 'info');
  if (options.drain) {
    nowMs += 1;
    for (const held of sm.reservations()) {
      send(clients[0]!, { type: 'release', dn: held.dn, reservationId: held.reservation.reservationId, outcome: 'completed' }, false);
    }
  }
  return { sm, results, retries, history };
}

function fieldsOf(command: Command): { dn?: string; reservationId?: string; owner?: string; ttlMs?: number } {
  const fields: { dn?: string; reservationId?: string; owner?: string; ttlMs?: number } = {};
  if ('dn' in command) fields.dn = command.dn;
  if ('reservationId' in command) fields.reservationId = command.reservationId;
  if ('owner' in command) fields.owner = command.owner;
  if (command.type === 'reserve') fields.ttlMs = command.ttlMs;
  return fields;
}
