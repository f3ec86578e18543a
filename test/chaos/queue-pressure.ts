// Makes the chaos load queue: every `periodMs` most agent phones go on a break (NOT_READY)
// for `breakMs`, so callers outnumber READY agents and wait in the service's queue while
// the nemesis kills shard replicas and SIP nodes; then they come back READY one by one and
// the queue drains through claims. Only READY agents are sent on a break (an agent in a
// call or in its orphan hold is left alone: its hold protects a phone that may still have
// a dead call), and every agent sent on a break is brought back READY before this ends.
import { setTimeout as sleep } from 'node:timers/promises';
import type { ShardClient } from '../../shards/client/shard-client.js';
import { shardOf } from '../../shards/shard-map.js';
import type { Agent } from '../../shards/types.js';
import type { Prng } from './prng.js';

export type QueuePressureSpec = Readonly<{
  client: Pick<ShardClient, 'command' | 'read' | 'shardIds'>;
  dns: readonly string[];
  prng: Prng;
  stopped: () => boolean;
  firstAtMs: number;
  periodMs: number;
  breakMs: number;
  /** Agents sent on a break each period (those READY at that moment among a random pick). */
  onBreak: number;
  /** Gap between two agents coming back, so entries are served one claim at a time. */
  backGapMs: number;
  log?: (line: string) => void;
}>;

export type QueuePressureResult = Readonly<{ breaks: number; agentBreaks: number; notReadyRefused: number; readyRetries: number; stillOnBreak: readonly string[] }>;

export const breakReason = 'chaos-break';
const commandDeadlineMs = 3000;
const backDeadlineMs = 60_000;
const retryMs = 300;

async function sleepUnless(ms: number, stopped: () => boolean): Promise<void> {
  const until = Date.now() + ms;
  while (!stopped() && Date.now() < until) await sleep(Math.min(200, until - Date.now()));
}

export async function runQueuePressure(spec: QueuePressureSpec): Promise<QueuePressureResult> {
  let breaks = 0, agentBreaks = 0, notReadyRefused = 0, readyRetries = 0;
  const stillOnBreak: string[] = [];
  await sleepUnless(spec.firstAtMs, spec.stopped);
  while (!spec.stopped()) {
    const pool = [...spec.dns];
    const picked: string[] = [];
    while (picked.length < spec.onBreak && pool.length > 0) picked.push(pool.splice(spec.prng.int(0, pool.length - 1), 1)[0]!);
    const away: string[] = [];
    // Agents in a call are picked up when it ends: the break lasts breakMs from its start.
    const breakEndMs = Date.now() + spec.breakMs;
    let pending = picked;
    while (pending.length > 0 && !spec.stopped() && Date.now() < breakEndMs) {
      const results = await Promise.all(pending.map(async (dn) => ({ dn, away: await sendOnBreak(spec, dn, () => notReadyRefused++) })));
      for (const r of results) if (r.away) away.push(r.dn);
      pending = results.filter((r) => !r.away).map((r) => r.dn);
      if (pending.length > 0) await sleep(retryMs);
    }
    breaks++;
    agentBreaks += away.length;
    spec.log?.(`queue pressure: break ${breaks}, ${away.length} of ${spec.dns.length} agents NOT_READY during ${spec.breakMs / 1000} s`);
    await sleepUnless(breakEndMs - Date.now(), spec.stopped);
    for (const dn of away) {
      if (!(await backToReady(spec, dn, () => readyRetries++))) stillOnBreak.push(dn);
      if (!spec.stopped()) await sleep(spec.backGapMs);
    }
    await sleepUnless(spec.periodMs - spec.breakMs, spec.stopped);
  }
  return { breaks, agentBreaks, notReadyRefused, readyRetries, stillOnBreak };
}

/** NOT_READY if READY now (true: it is, or may be, on a break and must be brought back). */
async function sendOnBreak(spec: QueuePressureSpec, dn: string, onRefused: () => void): Promise<boolean> {
  try {
    const agent = await readAgent(spec.client, dn);
    if (agent?.status.state !== 'READY') return false;
    const r = await spec.client.command(dn, { type: 'notReady', dn, reason: breakReason }, { deadlineMs: commandDeadlineMs });
    if (!r.ok) onRefused();
    return r.ok;
  } catch {
    // Unknown outcome (a kill mid-command): it may be NOT_READY now, so bring it back too.
    return true;
  }
}

/** `ready` until the shard says it is applied (an unknown outcome is retried; `ready` on a
 * READY agent changes nothing). False if the bound passed first. */
async function backToReady(spec: QueuePressureSpec, dn: string, onRetry: () => void): Promise<boolean> {
  const until = Date.now() + backDeadlineMs;
  for (;;) {
    try {
      const r = await spec.client.command(dn, { type: 'ready', dn }, { deadlineMs: commandDeadlineMs });
      if (r.ok) return true;
      // Not NOT_READY any more (a kill mid-notReady left it READY, then a call took it).
      const agent = await readAgent(spec.client, dn);
      if (agent !== null && !(agent.status.state === 'NOT_READY' && agent.status.reason === breakReason)) return true;
    } catch {
      // retried below
    }
    if (Date.now() >= until) return false;
    onRetry();
    await sleep(retryMs);
  }
}

async function readAgent(client: QueuePressureSpec['client'], dn: string): Promise<Agent | null> {
  return (await client.read(shardOf(dn, client.shardIds), { type: 'agent', dn }, 'linearizable', { deadlineMs: commandDeadlineMs })) as Agent | null;
}
