// What a store does with one replica's committed output, after its batch is durable:
// install a snapshot, apply entries to the register (answering the client that proposed
// each), serve ReadIndex reads once applied far enough, and compact the log now and then.

import type { ConfChange, Entry, NodeId, ReadFailure, ReadState, Snapshot } from '../types.js';
import type { SafetyChecks } from './checks.js';
import type { ClientReply } from './clients.js';
import type { RegisterCommand } from './cas-register.js';
import { decodeCommand } from './cas-register.js';
import { compactEveryEntriesMax, compactEveryEntriesMin } from './limits.js';
import { applyConfChange, type SimNode } from './sim-node.js';
import type { Trace } from './trace.js';

const decoder = new TextDecoder();

export function resetCompaction(node: SimNode): void {
  node.compactAt = node.applied + node.prng.range(compactEveryEntriesMin, compactEveryEntriesMax);
}

export function installSnapshot(node: SimNode, s: Snapshot, trace: Trace, nowMs: number): void {
  if (s.meta.index <= node.applied) return;
  trace.record(nowMs, `install ${node.group}/${node.id} snapshot ${s.meta.index}`);
  node.sm.restore(s.data);
  node.applied = s.meta.index;
  node.appliedConf = s.meta.conf;
  resetCompaction(node);
  for (const [index, prop] of node.proposals) {
    if (index > s.meta.index) continue;
    node.proposals.delete(index);
    prop.done({ type: 'info', reason: 'covered by a snapshot' });
  }
}

export function applyEntry(node: SimNode, e: Entry, checks: SafetyChecks): void {
  if (e.index <= node.applied) return;
  if (e.index !== node.applied + 1) {
    checks.report('state-machine-safety', `${node.id} applies index ${e.index} after ${node.applied}`);
    return;
  }
  checks.onApply(node.id, e);
  node.applied = e.index;
  let result: ClientReply | null = null;
  let command: RegisterCommand | null = null;
  if (e.kind === 'conf') {
    node.appliedConf = applyConfChange(node.appliedConf, JSON.parse(decoder.decode(e.data)) as ConfChange);
  } else if (e.kind === 'normal') {
    command = decodeCommand(e.data);
    const r = node.sm.apply(command);
    result = { type: 'ok', output: command.kind === 'cas' ? { ok: r.ok, current: r.current } : {} };
  }
  const prop = node.proposals.get(e.index);
  if (prop === undefined) return;
  node.proposals.delete(e.index);
  const mine = command !== null && command.client === prop.command.client && command.op === prop.command.op;
  prop.done(mine ? result! : { type: 'fail', reason: 'another entry took the index', leaderHint: null });
}

export function queueReads(node: SimNode, states: readonly ReadState[]): void {
  for (const rs of states) {
    const read = node.reads.get(rs.context);
    if (read === undefined) continue;
    node.reads.delete(rs.context);
    node.readWaits.push({ index: rs.index, read });
  }
}

export function failReads(node: SimNode, failures: readonly ReadFailure[], leaderHint: NodeId | null): void {
  for (const rf of failures) {
    const read = node.reads.get(rf.context);
    if (read === undefined) continue;
    node.reads.delete(rf.context);
    read.done({ type: 'fail', reason: rf.reason, leaderHint });
  }
}

export function serveReads(node: SimNode): void {
  if (node.readWaits.length === 0) return;
  const still: typeof node.readWaits = [];
  for (const w of node.readWaits) {
    if (w.index <= node.applied) w.read.done({ type: 'ok', output: { value: node.sm.read(w.read.key) } });
    else still.push(w);
  }
  node.readWaits = still;
}

/** Snapshots the register once enough was applied since the last snapshot. */
export function compactReplica(node: SimNode, trace: Trace, nowMs: number): void {
  if (node.applied < node.compactAt) return;
  const term = node.disk.termAt(node.applied);
  resetCompaction(node);
  if (term === null || node.core === null) return;
  const data = node.sm.snapshot();
  node.core.compact(node.applied, data);
  node.disk.compact({ meta: { index: node.applied, term, conf: node.appliedConf }, data });
  trace.record(nowMs, `compact ${node.group}/${node.id} ${node.applied}`);
}
