// A linearizability checker for histories of compare-and-set registers, in the manner of
// Wing & Gong, Lowe's just-in-time refinement and Porcupine: depth-first search over the
// call/return entries of the history, linearizing a pending call when the model accepts
// it, backtracking at a return whose call was not linearized, and remembering every
// (set of linearized ops, register value) pair already explored so no state is searched
// twice. The history is split per key first (P-compositionality: a history is
// linearizable iff each key's sub-history is).
//
// Operations whose outcome is unknown (`info`: timeout, crash) may or may not have taken
// effect: they get a return time of +∞, so they can be linearized anywhere after their
// call, including after everything else, which is the same as never. Failed operations
// (definitely not applied) and reads of unknown outcome are left out.

import type { RegisterValue } from './cas-register.js';
import { linearizabilityCacheMax } from './limits.js';

export type OpInput = Readonly<
  | { kind: 'read'; key: string }
  | { kind: 'write'; key: string; value: number }
  | { kind: 'cas'; key: string; expected: RegisterValue; value: number }
>;

/** read → the value; cas → whether it swapped and the value it saw; write → nothing. */
export type OpOutput = Readonly<{ value?: RegisterValue; ok?: boolean; current?: RegisterValue }>;

export type HistoryEvent = Readonly<
  | { type: 'invoke'; op: number; client: number; time: number; input: OpInput }
  | { type: 'ok'; op: number; client: number; time: number; output: OpOutput }
  | { type: 'fail'; op: number; client: number; time: number; reason: string }
  | { type: 'info'; op: number; client: number; time: number; reason: string }
>;

export type Operation = Readonly<{
  op: number;
  client: number;
  input: OpInput;
  /** null when the outcome is unknown. */
  output: OpOutput | null;
  callTime: number;
  returnTime: number;
}>;

export type KeyVerdict = Readonly<{
  key: string;
  ops: number;
  linearizable: boolean;
  /** The search hit linearizabilityCacheMax: neither a pass nor a proof of violation. */
  inconclusive: boolean;
  /** On a violation: the op the search could never get past. */
  stuckOp: Operation | null;
  /** Distinct (linearized set, value) states visited: the cost of the check. */
  statesExplored: number;
}>;

export type Verdict = Readonly<{ linearizable: boolean; inconclusive: boolean; keys: readonly KeyVerdict[] }>;

/** Pairs invocations with completions; fails and unknown reads are dropped. */
export function toOperations(history: readonly HistoryEvent[]): Operation[] {
  const calls = new Map<number, Extract<HistoryEvent, { type: 'invoke' }>>();
  const ops: Operation[] = [];
  const done = new Set<number>();
  for (const ev of history) {
    if (ev.type === 'invoke') {
      calls.set(ev.op, ev);
      continue;
    }
    const call = calls.get(ev.op);
    if (call === undefined || done.has(ev.op)) continue;
    done.add(ev.op);
    if (ev.type === 'fail') continue;
    if (ev.type === 'info' && call.input.kind === 'read') continue;
    ops.push({
      op: ev.op,
      client: call.client,
      input: call.input,
      output: ev.type === 'ok' ? ev.output : null,
      callTime: call.time,
      returnTime: ev.type === 'ok' ? ev.time : Infinity,
    });
  }
  // An invocation that never completed (the run ended first) is of unknown outcome.
  for (const call of calls.values()) {
    if (done.has(call.op) || call.input.kind === 'read') continue;
    ops.push({ op: call.op, client: call.client, input: call.input, output: null, callTime: call.time, returnTime: Infinity });
  }
  return ops;
}

/** The register model: the next value, or undefined when the op cannot happen here. */
function step(state: RegisterValue, o: Operation): RegisterValue | undefined {
  const inp = o.input;
  const out = o.output;
  if (inp.kind === 'read') return out!.value === state ? state : undefined;
  if (inp.kind === 'write') return inp.value;
  if (out === null) return state === inp.expected ? inp.value : state;
  if (out.ok === true) return state === inp.expected ? inp.value : undefined;
  return state === out.current && state !== inp.expected ? state : undefined;
}

/** Unknown-outcome writes whose value nobody ever observed can always be linearized last,
 * where they change nothing: drop them to keep the search small. */
function pruneUnobserved(ops: readonly Operation[]): Operation[] {
  const seen = new Set<RegisterValue>();
  for (const o of ops) {
    if (o.output === null) continue;
    if (o.input.kind === 'read') seen.add(o.output.value ?? null);
    if (o.input.kind === 'cas') seen.add(o.output.ok === true ? o.input.expected : (o.output.current ?? null));
  }
  return ops.filter((o) => o.output !== null || o.input.kind === 'read' || seen.has(o.input.value));
}

type Node = { op: number; isCall: boolean; time: number; match: Node | null; prev: Node | null; next: Node | null };

function buildList(ops: readonly Operation[]): Node {
  const nodes: Node[] = [];
  ops.forEach((o, i) => {
    const ret: Node = { op: i, isCall: false, time: o.returnTime, match: null, prev: null, next: null };
    const call: Node = { op: i, isCall: true, time: o.callTime, match: ret, prev: null, next: null };
    nodes.push(call, ret);
  });
  // Calls before returns at equal times never happen with unique event times; the rule
  // only orders the +∞ returns, where order does not matter.
  nodes.sort((a, b) => a.time - b.time || (a.isCall === b.isCall ? a.op - b.op : a.isCall ? -1 : 1));
  const head: Node = { op: -1, isCall: false, time: -Infinity, match: null, prev: null, next: null };
  let prev = head;
  for (const n of nodes) {
    prev.next = n;
    n.prev = prev;
    prev = n;
  }
  return head;
}

function lift(call: Node): void {
  call.prev!.next = call.next;
  if (call.next !== null) call.next.prev = call.prev;
  const ret = call.match!;
  ret.prev!.next = ret.next;
  if (ret.next !== null) ret.next.prev = ret.prev;
}

function unlift(call: Node): void {
  const ret = call.match!;
  ret.prev!.next = ret;
  if (ret.next !== null) ret.next.prev = ret;
  call.prev!.next = call;
  if (call.next !== null) call.next.prev = call;
}

export function checkKey(key: string, all: readonly Operation[], initial: RegisterValue = null): KeyVerdict {
  const ops = pruneUnobserved(all).sort((a, b) => a.callTime - b.callTime);
  const head = buildList(ops);
  const words = new Uint32Array(Math.ceil(ops.length / 32) + 1);
  const cache = new Set<string>();
  const stack: { call: Node; state: RegisterValue }[] = [];
  let state = initial;
  let entry = head.next;
  let deepest = 0;
  let stuck: Operation | null = null;
  while (head.next !== null) {
    if (entry !== null && entry.isCall) {
      const next = step(state, ops[entry.op]!);
      if (next !== undefined) {
        words[entry.op >> 5]! ^= 1 << (entry.op & 31);
        const k = words.join(',') + ':' + String(next);
        if (!cache.has(k)) {
          if (cache.size >= linearizabilityCacheMax) return { key, ops: ops.length, linearizable: false, inconclusive: true, stuckOp: null, statesExplored: cache.size };
          cache.add(k);
          stack.push({ call: entry, state });
          state = next;
          lift(entry);
          entry = head.next;
          continue;
        }
        words[entry.op >> 5]! ^= 1 << (entry.op & 31);
      }
      entry = entry.next;
      continue;
    }
    // A return whose call is still pending (or the end of the list): this branch is
    // dead, backtrack.
    if (entry !== null && stack.length >= deepest) {
      deepest = stack.length;
      stuck = ops[entry.op]!;
    }
    const top = stack.pop();
    if (top === undefined) return { key, ops: ops.length, linearizable: false, inconclusive: false, stuckOp: stuck, statesExplored: cache.size };
    state = top.state;
    words[top.call.op >> 5]! ^= 1 << (top.call.op & 31);
    unlift(top.call);
    entry = top.call.next;
  }
  return { key, ops: ops.length, linearizable: true, inconclusive: false, stuckOp: null, statesExplored: cache.size };
}

export function checkHistory(history: readonly HistoryEvent[]): Verdict {
  const byKey = new Map<string, Operation[]>();
  for (const o of toOperations(history)) {
    const list = byKey.get(o.input.key) ?? [];
    list.push(o);
    byKey.set(o.input.key, list);
  }
  const keys = [...byKey.keys()].sort().map((k) => checkKey(k, byKey.get(k)!));
  return {
    linearizable: keys.every((k) => k.linearizable),
    inconclusive: keys.some((k) => k.inconclusive),
    keys,
  };
}

export function describeOperation(o: Operation): string {
  const i = o.input;
  const what = i.kind === 'read' ? `read(${i.key})` : i.kind === 'write' ? `write(${i.key}, ${i.value})` : `cas(${i.key}, ${i.expected}, ${i.value})`;
  const out = o.output === null ? '?' : i.kind === 'read' ? String(o.output.value) : i.kind === 'cas' ? `${o.output.ok}/${o.output.current}` : 'ok';
  return `client ${o.client} op ${o.op} ${what} → ${out} [${o.callTime}, ${o.returnTime}]`;
}
