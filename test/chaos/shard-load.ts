// Layer-1 load: history-recorded clients of the shards themselves. Reserve workers race
// for a pool of agents (reserve → hold → confirm+release 'completed' or release
// 'abandoned'); state workers send agents on a break and back (notReady → ready). Every
// command goes through ShardClient and is recorded invoke/ok/fail/info in a
// HistoryRecorder (test/support/history.ts rules: one outstanding op per process, `info`
// whenever the outcome is unknown), so the checker can judge exclusivity, lost changes
// and leaks. These agents are not registered phones, so no SIP call ever reserves them
// and every change to them is in the history.
import { setTimeout as sleep } from 'node:timers/promises';
import { ShardClientError, type ShardClient } from '../../shards/client/shard-client.js';
import { retryOf, shardStateErrorCodes } from '../../shards/errors.js';
import type { Command, ShardResult } from '../../shards/types.js';
import type { FinalStateName, HistoryOpName, HistoryRecorder } from '../support/history.js';
import type { Prng } from './prng.js';

export type ShardLoadSpec = Readonly<{
  client: ShardClient;
  history: HistoryRecorder;
  prng: Prng;
  dns: readonly string[];
  reserveWorkers: number;
  stateWorkers: number;
  ttlMs: number;
  commandDeadlineMs: number;
  /** Load stops being generated once this returns true; open cycles still finish. */
  stopped: () => boolean;
}>;

/** Session answers that say nothing about the agent: the outcome is unknown ... */
export const sessionUnknown: ReadonlySet<string> = new Set(['SHARD_ERR_SESSION_EXPIRED']);
/** ... or the command was refused unapplied and is worth retrying (the catalogue's
 * `resend` codes: SHARD_ERR_TOO_MANY_PENDING, SHARD_ERR_SESSION_REQUIRED). */
export const sessionBusy: ReadonlySet<string> = new Set(shardStateErrorCodes.filter((c) => retryOf(c) === 'resend'));

export type ShardLoadCounts = { grants: number; denials: number; unknown: number; confirms: number; breaks: number };

/** Runs one recorded command; null when its outcome is unknown (recorded as info). */
async function recorded(spec: ShardLoadSpec, proc: string, op: HistoryOpName, fields: Record<string, unknown>, cmd: Command, counts: ShardLoadCounts): Promise<ShardResult | null> {
  spec.history.invoke(proc, op, fields);
  try {
    const r = await spec.client.command((cmd as { dn: string }).dn, cmd, { deadlineMs: spec.commandDeadlineMs });
    if (!r.ok && sessionUnknown.has(r.code)) {
      // The session lost the command's result: it may have been applied.
      spec.history.complete(proc, 'info');
      counts.unknown++;
      return null;
    }
    const state: FinalStateName | undefined = r.ok && (r.type === 'agent' || r.type === 'reserved') ? r.agent.status.state : undefined;
    spec.history.complete(proc, r.ok ? 'ok' : 'fail', state);
    // Refused before it was applied (the session's window was full): definitely nothing
    // changed, but the caller must try again rather than take it as the shard's answer.
    if (!r.ok && sessionBusy.has(r.code)) return null;
    return r;
  } catch (err) {
    const maybe = !(err instanceof ShardClientError) || err.maybeApplied;
    spec.history.complete(proc, maybe ? 'info' : 'fail');
    counts.unknown++;
    return null;
  }
}

/** Repeats a command that must take effect until the shard answers definitely (ok or a
 * typed refusal), within a bound: a lost release would otherwise hold the agent. */
async function untilDefinite(spec: ShardLoadSpec, proc: string, op: HistoryOpName, fields: Record<string, unknown>, cmd: Command, counts: ShardLoadCounts, attemptsMax = 30): Promise<ShardResult | null> {
  for (let attempt = 0; attempt < attemptsMax; attempt++) {
    const r = await recorded(spec, proc, op, fields, cmd, counts);
    if (r) return r;
    await sleep(100);
  }
  return null;
}

async function reserveWorker(spec: ShardLoadSpec, w: number, counts: ShardLoadCounts): Promise<void> {
  const proc = `reserver-${w}`;
  const owner = `chaos-owner-${w}`;
  const prng = spec.prng.fork(proc);
  let cycle = 0;
  while (!spec.stopped()) {
    cycle++;
    const dn = prng.pick(spec.dns);
    const reservationId = `r-${w}-${cycle}-${prng.int(0, 1e9)}`;
    const r = await recorded(spec, proc, 'reserve', { dn, reservationId, owner, ttlMs: spec.ttlMs }, { type: 'reserve', dn, reservationId, callId: `call-${reservationId}`, owner, ttlMs: spec.ttlMs }, counts);
    if (!r || !r.ok) {
      if (r) counts.denials++;
      await sleep(r ? 20 : 100);
      continue;
    }
    counts.grants++;
    await sleep(prng.int(0, 150));
    let outcome: 'completed' | 'abandoned' = 'abandoned';
    if (prng.next() < 0.5) {
      const c = await recorded(spec, proc, 'confirm', { dn, reservationId }, { type: 'confirm', dn, reservationId }, counts);
      if (c?.ok) {
        counts.confirms++;
        outcome = 'completed';
        await sleep(prng.int(0, 150));
      }
    }
    await untilDefinite(spec, proc, 'release', { dn, reservationId }, { type: 'release', dn, reservationId, outcome }, counts);
  }
}

async function stateWorker(spec: ShardLoadSpec, w: number, counts: ShardLoadCounts): Promise<void> {
  const proc = `breaker-${w}`;
  const prng = spec.prng.fork(proc);
  while (!spec.stopped()) {
    const dn = prng.pick(spec.dns);
    const r = await recorded(spec, proc, 'notReady', { dn }, { type: 'notReady', dn, reason: 'break' }, counts);
    if (r && !r.ok) {
      await sleep(50);
      continue;
    }
    counts.breaks++;
    await sleep(prng.int(50, 400));
    await untilDefinite(spec, proc, 'ready', { dn }, { type: 'ready', dn }, counts);
    await sleep(prng.int(50, 300));
  }
}

export async function runShardLoad(spec: ShardLoadSpec): Promise<ShardLoadCounts> {
  const counts: ShardLoadCounts = { grants: 0, denials: 0, unknown: 0, confirms: 0, breaks: 0 };
  await Promise.all([
    ...Array.from({ length: spec.reserveWorkers }, (_, w) => reserveWorker(spec, w, counts)),
    ...Array.from({ length: spec.stateWorkers }, (_, w) => stateWorker(spec, w, counts)),
  ]);
  return counts;
}

/** After the load: any agent left NOT_READY by a break whose `ready` came back unknown, or
 * by a late-applied notReady, is sent back to READY, recorded like any other change. */
export async function readySweep(spec: ShardLoadSpec, notReadyDns: readonly string[]): Promise<void> {
  const counts: ShardLoadCounts = { grants: 0, denials: 0, unknown: 0, confirms: 0, breaks: 0 };
  for (const dn of notReadyDns) await untilDefinite(spec, 'sweeper', 'ready', { dn }, { type: 'ready', dn }, counts);
}
