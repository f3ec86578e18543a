// History recorder and checker for the DN reservation invariants (DESIGN.md "Invariants"
// 1–3), used by integration and chaos tests, in the style of Jepsen histories.
//
// RECORDING. Each client process records `invoke` before sending a command and exactly one
// completion after: `ok` (the shard answered ok), `fail` (the shard answered a typed error:
// the command DEFINITELY changed nothing), or `info` (timeout, connection lost, leader died:
// the command MAY have taken effect, now or at any later time, even after the history
// ends). A process has at most one operation outstanding. Times come from ONE clock (the
// test's), so they order events across processes; an operation takes effect at some
// instant between its invoke and its completion (or any time after invoke for `info`).
// Leader-proposed `expire` entries are usually not seen by clients; the checker allows for
// them through the TTL rule below. Leader-proposed `expireLease` entries (a SIP node
// stopped renewing its lease) are learnt from the shard's change feed (kind
// 'expireLease') and recorded as an `expireLease` op with the lease's `owner` (and the
// freed `dn` when known) whose invoke time is a LOWER bound on when it took effect (e.g.
// when that owner was last known alive), never the time the feed page arrived. Every other command that can change an agent (and every
// releaseByOwner) must be recorded, or the checker may blame the shard for its effect.
// Record `ttlMs` and `owner` on reserve invokes, and the agent's resulting `state` on ok
// completions of state-changing ops.
//
// (1) EXCLUSIVITY — no two reservations of one DN held at the same instant. Only pairs that
// are held at the same instant in EVERY ordering consistent with the recorded times count,
// so timing uncertainty never produces a violation. For an acknowledged grant A:
//   * A is surely held from okA (its grant took effect at or before okA) ...
//   * ... until endLowerA, a time before which A cannot have ended: the minimum over
//       - the invoke time of every non-failed op that could end A: release/expire naming A
//         (or naming no reservation on A's DN), releaseByOwner of A's owner, expireLease of
//         A's owner (the shard leader ended the owner's lease and freed its grants; when it
//         names a DN, only that DN's grant) — a failed op changed nothing, so it ended nothing;
//       - unless a confirm of A was acknowledged (an answered reservation never expires),
//         the earliest instant A's TTL could have run out: invokeA + ttlMs − 2·clockSkewMsMax
//         (the grant's entry time is at least invokeA on the leader's clock, the expiring
//         leader's clock may be up to clockSkewMsMax ahead of the test clock and the
//         granting leader's up to clockSkewMsMax behind). No ttlMs recorded and no
//         acknowledged confirm: −∞, A is never counted.
//   Grants A ≠ B of one DN violate exclusivity iff max(okA, okB) < min(endLowerA, endLowerB),
//   i.e. both were acknowledged before either could have ended. Grants answered `info` may
//   have been held and are never part of a violation; a release acknowledged before the
//   other grant was invoked always separates the two. A correct shard cannot fail this:
//   if it granted B after A ended, A's end took effect before okB, and that end is an op
//   invoked before okB (so endLowerA ≤ that invoke < okB) or a TTL expiry (after the bound).
//
// (2) ACKNOWLEDGED CHANGES SURVIVE — checked against `finalAgents`, the states read from
// the cluster (linearizably) after every process completed. Per DN, take the acknowledged
// op X with a recorded `state` whose ok came last. If every other op that may have
// changed the DN's state (ok, info or pending, not fail; including releaseByOwner and
// expireLease of an owner that reserved this DN) completed strictly before X was invoked, X is the last change in
// every ordering, and the final state must be X's state or what time alone makes of it:
// WRAP_UP → READY (wrap-up ended), RESERVED → READY or, with an orphan hold, WRAP_UP (the
// leader expired it). Otherwise the
// DN is counted undetermined, not violated. 'ABSENT' is the state of a deprovisioned DN.
//
// (3) NO LEAKS — once all calls ended, no final agent is RESERVED or BUSY; a final
// reservation id that no non-failed reserve asked for is a phantom (a grant nobody got,
// or one answered as denied).
//
// The checker also reports malformed histories (completion without invoke, two
// outstanding ops in one process, time going backwards), since those hide real bugs.

import type { AgentStateName } from '../../shards/types.js';

export type HistoryOpName =
  | 'reserve'
  | 'confirm'
  | 'release'
  | 'expire'
  | 'releaseByOwner'
  | 'expireLease'
  | 'provision'
  | 'deprovision'
  | 'login'
  | 'ready'
  | 'notReady'
  | 'logout'
  | 'register'
  | 'unregister'
  | 'read';

export type FinalStateName = AgentStateName | 'ABSENT';

export type HistoryEvent = Readonly<{
  process: string;
  type: 'invoke' | 'ok' | 'fail' | 'info';
  op: HistoryOpName;
  timeMs: number;
  dn?: string;
  reservationId?: string;
  /** reserve: the owner of the grant; releaseByOwner, expireLease: the owner released. */
  owner?: string;
  /** reserve: the TTL asked for. */
  ttlMs?: number;
  /** On ok: the agent's state in the shard's answer. */
  state?: FinalStateName;
}>;

export type FinalAgent = Readonly<{ dn: string; state: AgentStateName; reservationId?: string | null; owner?: string | null }>;

export type CheckOptions = Readonly<{
  /** The agents read after the run; without it checks (2) and (3) are skipped. */
  finalAgents?: readonly FinalAgent[];
  /** Largest offset between any shard leader's clock and the test clock. */
  clockSkewMsMax?: number;
}>;

export type ViolationKind = 'malformed' | 'exclusivity' | 'lost-change' | 'leaked-reservation' | 'phantom-reservation';

export type Violation = Readonly<{ kind: ViolationKind; dn: string | null; message: string; ops: readonly Operation[] }>;

export type HistoryCounts = Readonly<{
  events: number;
  operations: number;
  ok: number;
  fail: number;
  info: number;
  pending: number;
  dns: number;
  grantsAcknowledged: number;
  grantsUncertain: number;
  exclusivityPairsCompared: number;
  finalStatesChecked: number;
  finalStatesUndetermined: number;
}>;

export type HistoryReport = Readonly<{ ok: boolean; violations: readonly Violation[]; counts: HistoryCounts }>;

/** An invoke paired with its completion. `completeMs` is null for info and pending. */
export type Operation = Readonly<{
  process: string;
  op: HistoryOpName;
  outcome: 'ok' | 'fail' | 'info' | 'pending';
  invokeMs: number;
  completeMs: number | null;
  dn: string | null;
  reservationId: string | null;
  owner: string | null;
  ttlMs: number | null;
  state: FinalStateName | null;
}>;

/** Records a history with one injected clock (use a monotonic one, e.g. performance.now). */
export class HistoryRecorder {
  readonly #nowMs: () => number;
  readonly #events: HistoryEvent[] = [];
  readonly #pending = new Map<string, HistoryEvent>();

  constructor(nowMs: () => number) {
    this.#nowMs = nowMs;
  }

  invoke(process: string, op: HistoryOpName, fields: Omit<HistoryEvent, 'process' | 'type' | 'op' | 'timeMs' | 'state'> = {}): void {
    const event: HistoryEvent = { ...fields, process, type: 'invoke', op, timeMs: this.#nowMs() };
    this.#pending.set(process, event);
    this.#events.push(event);
  }

  complete(process: string, type: 'ok' | 'fail' | 'info', state?: FinalStateName): void {
    const invoke = this.#pending.get(process);
    if (!invoke) throw new Error(`process ${process} completes without an invoke`);
    this.#pending.delete(process);
    const event: HistoryEvent = { ...invoke, type, timeMs: this.#nowMs(), ...(state === undefined ? {} : { state }) };
    this.#events.push(event);
  }

  events(): readonly HistoryEvent[] {
    return [...this.#events];
  }
}

type Pairing = { operations: Operation[]; malformed: Violation[] };

function pairOperations(events: readonly HistoryEvent[]): Pairing {
  const operations: Operation[] = [];
  const malformed: Violation[] = [];
  const pending = new Map<string, HistoryEvent>();
  let lastMs = -Infinity;
  const toOperation = (invoke: HistoryEvent, outcome: Operation['outcome'], completion: HistoryEvent | null): Operation => ({
    process: invoke.process,
    op: invoke.op,
    outcome,
    invokeMs: invoke.timeMs,
    completeMs: completion && outcome !== 'info' ? completion.timeMs : null,
    dn: invoke.dn ?? null,
    reservationId: invoke.reservationId ?? null,
    owner: invoke.owner ?? null,
    ttlMs: invoke.ttlMs ?? null,
    state: completion?.type === 'ok' ? (completion.state ?? null) : null,
  });
  const bad = (message: string, dn: string | null): void => {
    malformed.push({ kind: 'malformed', dn, message, ops: [] });
  };
  for (const event of events) {
    if (event.timeMs < lastMs) bad(`time goes backwards at ${event.process} ${event.type} ${event.op} (${event.timeMs} < ${lastMs})`, event.dn ?? null);
    lastMs = Math.max(lastMs, event.timeMs);
    const open = pending.get(event.process);
    if (event.type === 'invoke') {
      if (open) {
        bad(`process ${event.process} invokes ${event.op} with ${open.op} outstanding`, event.dn ?? null);
        operations.push(toOperation(open, 'pending', null));
      }
      pending.set(event.process, event);
      continue;
    }
    if (!open || open.op !== event.op) {
      bad(`process ${event.process} completes ${event.op} without a matching invoke`, event.dn ?? null);
      continue;
    }
    pending.delete(event.process);
    operations.push(toOperation(open, event.type, event));
  }
  for (const open of pending.values()) operations.push(toOperation(open, 'pending', null));
  return { operations, malformed };
}

const endsAt = (op: Operation): number => op.completeMs ?? Infinity;

/** Could `op` end the grant `grant`? (Failed ops changed nothing.) */
function couldEnd(op: Operation, grant: Operation): boolean {
  if (op.outcome === 'fail') return false;
  if (op.op === 'releaseByOwner') return op.owner === null || op.owner === grant.owner;
  // A lease expiry frees exactly the owner's grants, like its releaseByOwner.
  if (op.op === 'expireLease') return (op.owner === null || op.owner === grant.owner) && (op.dn === null || op.dn === grant.dn);
  if (op.op !== 'release' && op.op !== 'expire') return false;
  return op.dn === grant.dn && (op.reservationId === null || op.reservationId === grant.reservationId);
}

function endLowerBound(grant: Operation, operations: readonly Operation[], clockSkewMsMax: number): number {
  let bound = Infinity;
  for (const op of operations) if (op !== grant && couldEnd(op, grant)) bound = Math.min(bound, op.invokeMs);
  const confirmed = operations.some(
    (op) => op.op === 'confirm' && op.outcome === 'ok' && op.dn === grant.dn && op.reservationId === grant.reservationId,
  );
  if (!confirmed) {
    const ttlBound = grant.ttlMs === null ? -Infinity : grant.invokeMs + grant.ttlMs - 2 * clockSkewMsMax;
    bound = Math.min(bound, ttlBound);
  }
  return bound;
}

function checkExclusivity(dn: string, operations: readonly Operation[], clockSkewMsMax: number, out: Violation[]): number {
  const grants = operations
    .filter((op) => op.op === 'reserve' && op.outcome === 'ok' && op.dn === dn)
    .map((grant) => ({ grant, from: grant.completeMs!, until: endLowerBound(grant, operations, clockSkewMsMax) }))
    .sort((a, b) => a.from - b.from);
  let compared = 0;
  for (let i = 0; i < grants.length; i += 1) {
    const a = grants[i]!;
    for (let j = i + 1; j < grants.length; j += 1) {
      const b = grants[j]!;
      if (b.from >= a.until) break; // sorted by `from`: no later grant overlaps a either
      compared += 1;
      if (b.from < b.until) {
        const message =
          `reservations ${a.grant.reservationId} and ${b.grant.reservationId} of DN ${dn} both held during ` +
          `[${b.from}, ${Math.min(a.until, b.until)})`;
        out.push({ kind: 'exclusivity', dn, message, ops: [a.grant, b.grant] });
      }
    }
  }
  return compared;
}

/** States time alone can turn `state` into, with no op in the history. */
function reachableByTime(state: FinalStateName): FinalStateName[] {
  // An expired grant that carried an orphan hold goes through WRAP_UP on its way to READY.
  if (state === 'RESERVED') return [state, 'WRAP_UP', 'READY'];
  if (state === 'WRAP_UP') return [state, 'READY'];
  return [state];
}

const stateChangingOps: ReadonlySet<HistoryOpName> = new Set([
  'reserve',
  'confirm',
  'release',
  'expire',
  'releaseByOwner',
  'expireLease',
  'provision',
  'deprovision',
  'login',
  'ready',
  'notReady',
  'logout',
]);

/** Returns 'checked' | 'undetermined' and pushes a violation if the final state contradicts. */
function checkFinalState(dn: string, operations: readonly Operation[], final: FinalAgent | undefined, out: Violation[]): 'checked' | 'undetermined' {
  const ownersHere = new Set(
    operations.filter((op) => op.op === 'reserve' && op.dn === dn && op.outcome !== 'fail').map((op) => op.owner),
  );
  const mayChange = operations.filter(
    (op) =>
      stateChangingOps.has(op.op) &&
      op.outcome !== 'fail' &&
      (op.op === 'releaseByOwner' || (op.op === 'expireLease' && op.dn === null) ? op.owner === null || ownersHere.has(op.owner) : op.dn === dn),
  );
  const acked = mayChange.filter((op) => op.outcome === 'ok' && op.state !== null && op.dn === dn);
  if (acked.length === 0) return 'undetermined';
  const last = acked.reduce((a, b) => (endsAt(b) > endsAt(a) ? b : a));
  // Equal times are ambiguous (clock resolution): only strictly earlier completions order.
  if (mayChange.some((op) => op !== last && endsAt(op) >= last.invokeMs)) return 'undetermined';
  const finalState: FinalStateName = final?.state ?? 'ABSENT';
  const allowed = reachableByTime(last.state!);
  if (!allowed.includes(finalState)) {
    const message = `DN ${dn}: last acknowledged ${last.op} left it ${last.state}, but the final state is ${finalState}`;
    out.push({ kind: 'lost-change', dn, message, ops: [last] });
  }
  return 'checked';
}

function checkLeaks(final: FinalAgent, operations: readonly Operation[], out: Violation[]): void {
  if (final.state !== 'RESERVED' && final.state !== 'BUSY') return;
  const id = final.reservationId ?? null;
  const asked = operations.filter((op) => op.op === 'reserve' && op.dn === final.dn && op.outcome !== 'fail' && op.reservationId === id);
  out.push({
    kind: 'leaked-reservation',
    dn: final.dn,
    message: `DN ${final.dn} is still ${final.state} (reservation ${String(id)}) after all calls ended`,
    ops: asked,
  });
  if (id !== null && asked.length === 0) {
    const message = `DN ${final.dn} holds reservation ${id}, which no reserve that was not refused asked for`;
    out.push({ kind: 'phantom-reservation', dn: final.dn, message, ops: [] });
  }
}

export function checkHistory(events: readonly HistoryEvent[], options: CheckOptions = {}): HistoryReport {
  const clockSkewMsMax = options.clockSkewMsMax ?? 0;
  const { operations, malformed } = pairOperations(events);
  const violations: Violation[] = [...malformed];
  const finalByDn = new Map((options.finalAgents ?? []).map((agent) => [agent.dn, agent]));
  const dns = new Set<string>([...finalByDn.keys()]);
  for (const op of operations) if (op.dn !== null) dns.add(op.dn);

  let exclusivityPairsCompared = 0;
  let finalStatesChecked = 0;
  let finalStatesUndetermined = 0;
  for (const dn of [...dns].sort()) {
    const related = operations.filter((op) => op.dn === dn || op.dn === null);
    exclusivityPairsCompared += checkExclusivity(dn, related, clockSkewMsMax, violations);
    if (options.finalAgents === undefined) continue;
    if (checkFinalState(dn, related, finalByDn.get(dn), violations) === 'checked') finalStatesChecked += 1;
    else finalStatesUndetermined += 1;
    const final = finalByDn.get(dn);
    if (final) checkLeaks(final, related, violations);
  }
  const count = (outcome: Operation['outcome']): number => operations.filter((op) => op.outcome === outcome).length;
  const reserves = operations.filter((op) => op.op === 'reserve');
  const counts: HistoryCounts = {
    events: events.length,
    operations: operations.length,
    ok: count('ok'),
    fail: count('fail'),
    info: count('info'),
    pending: count('pending'),
    dns: dns.size,
    grantsAcknowledged: reserves.filter((op) => op.outcome === 'ok').length,
    grantsUncertain: reserves.filter((op) => op.outcome === 'info' || op.outcome === 'pending').length,
    exclusivityPairsCompared,
    finalStatesChecked,
    finalStatesUndetermined,
  };
  return { ok: violations.length === 0, violations, counts };
}
