// The writers behind register-check.ts: one sequential process per DN sending it on
// numbered breaks through ShardClient for the whole run, each write recorded both in the
// shared history (so the history checker judges these DNs too) and as a register op.
import { setTimeout as sleep } from 'node:timers/promises';
import { ShardClientError, type ShardClient } from '../../shards/client/shard-client.js';
import type { Agent } from '../../shards/types.js';
import type { HistoryRecorder } from '../support/history.js';
import type { Prng } from './prng.js';
import type { RegisterOp } from './register-check.js';
import { sessionUnknown } from './shard-load.js';

export async function runRegisterWriters(o: { client: ShardClient; history: HistoryRecorder; prng: Prng; dns: readonly string[]; deadlineMs: number; stopped: () => boolean }): Promise<Map<string, RegisterOp[]>> {
  const out = new Map<string, RegisterOp[]>();
  await Promise.all(o.dns.map(async (dn) => {
    const ops: RegisterOp[] = [];
    out.set(dn, ops);
    const proc = `writer-${dn}`;
    const prng = o.prng.fork(proc);
    for (let n = 1; !o.stopped(); n++) {
      const reason = `w${n}`;
      const invokeMs = Date.now();
      o.history.invoke(proc, 'notReady', { dn });
      let outcome: RegisterOp['outcome'];
      try {
        const r = await o.client.command(dn, { type: 'notReady', dn, reason }, { deadlineMs: o.deadlineMs });
        outcome = r.ok ? 'ok' : sessionUnknown.has(r.code) ? 'info' : 'fail';
        o.history.complete(proc, outcome, r.ok && r.type === 'agent' ? r.agent.status.state : undefined);
      } catch (err) {
        outcome = !(err instanceof ShardClientError) || err.maybeApplied ? 'info' : 'fail';
        o.history.complete(proc, outcome);
      }
      ops.push({ reason, outcome, invokeMs, completeMs: outcome === 'info' ? null : Date.now() });
      await sleep(prng.int(100, 300));
    }
  }));
  return out;
}

/** The register's final value: the NOT_READY reason, or the state name otherwise. */
export async function readRegister(client: ShardClient, dn: string): Promise<string> {
  const agent = (await client.read(client.shardFor(dn), { type: 'agent', dn }, 'linearizable', { deadlineMs: 20_000 })) as Agent | null;
  if (agent === null) return 'ABSENT';
  return agent.status.state === 'NOT_READY' ? agent.status.reason : agent.status.state;
}
