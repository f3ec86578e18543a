// Threat: a leader whose system clock is stepped (an operator's `date -s`, a VM restored
// from a snapshot, a bad NTP server) froze deadlines when stepped back and expired them
// all at once when stepped forward. test/shards/leader-clock.test.ts proves the clock
// arithmetic with injected clocks; this proves it on a real replica process whose wall
// clock is really stepped: `ringfence shard` runs under libfaketime (LD_PRELOAD, its
// offset re-read from a file on every call, the monotonic clock left alone), and the test
// steps that process's Date.now() by minutes while a reservation's TTL and an agent's
// wrap-up run. Each deadline ends no earlier than its length of real time after it
// started (a forward step expired nothing early) and well within a minute (a backward
// step froze nothing). Needs Debian's libfaketime; skipped without it, failed when
// REQUIRE_FAKETIME=1 (.ci/run sets it).
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import t from 'tap';
import { ProcessSet, writeLocalClusterConfig } from '../../cluster/local-cluster.js';
import { ShardClient } from '../../shards/client/shard-client.js';
import type { Agent } from '../../shards/types.js';
import { tempDir } from '../support/temp-dir.js';

const libfaketime = ['/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1', '/usr/lib/aarch64-linux-gnu/faketime/libfaketime.so.1'].find((p) => existsSync(p));
const skip = libfaketime !== undefined ? false : process.env.REQUIRE_FAKETIME === '1' ? false : 'needs libfaketime (apt-get install faketime; REQUIRE_FAKETIME=1 makes this a failure)';

const deadlineMs = 4000;
/** A deadline that has not ended this long after it was due was frozen by the step. */
const frozenAfterMs = 60_000;
const stepMinutes = 10;

t.test(`a replica whose wall clock steps ${stepMinutes} minutes either way keeps TTLs and wrap-ups at real time`, { skip, timeout: 300_000 }, async (t) => {
  t.ok(libfaketime, 'libfaketime is installed (REQUIRE_FAKETIME=1)');
  if (libfaketime === undefined) return;
  const dir = tempDir(t, 'clock-step');
  const offsetFile = join(dir, 'faketime-offset');
  const stepTo = (offsetSeconds: number): void => writeFileSync(offsetFile, `${offsetSeconds >= 0 ? '+' : ''}${offsetSeconds}s\n`);
  stepTo(0);
  const { path, config } = await writeLocalClusterConfig({ dir, shards: 1, replicasPerShard: 1 });
  const procs = new ProcessSet(path, {
    logFile: join(dir, 'processes.log'),
    env: {
      LD_PRELOAD: libfaketime,
      FAKETIME_TIMESTAMP_FILE: offsetFile,
      // Re-read the offset on every clock call, so a write to the file steps the clock.
      FAKETIME_NO_CACHE: '1',
      // A stepped wall clock leaves CLOCK_MONOTONIC alone, as on a real host.
      FAKETIME_DONT_FAKE_MONOTONIC: '1',
    },
  });
  const killAll = (): void => procs.killAllNow();
  process.once('exit', killAll);
  const client = new ShardClient({ shards: config.shards, auth: { secret: config.secret, principal: 'launcher' }, attemptTimeoutMs: 2000, deadlineMs: 30_000 });
  t.teardown(async () => {
    client.close();
    await procs.stopAll();
    process.removeListener('exit', killAll);
  });
  const shard = config.shards[0]!;
  const ready = await procs.start('shard', shard.replicas[0]!.id);
  t.ok(ready, 'the replica is up under libfaketime');

  const dn = '4700';
  const state = async (): Promise<string> => ((await client.read(shard.id, { type: 'agents', filter: {} })) as Agent[]).find((a) => a.dn === dn)!.status.state;
  /** Real (monotonic) milliseconds from now until the agent leaves `from`. */
  const realMsUntilLeaves = async (from: string): Promise<number> => {
    const startMs = performance.now();
    for (;;) {
      const s = await state();
      const elapsedMs = performance.now() - startMs;
      if (s !== from) return elapsedMs;
      if (elapsedMs > frozenAfterMs) return Number.POSITIVE_INFINITY;
      await new Promise((r) => setTimeout(r, 100));
    }
  };
  for (const cmd of [{ type: 'provision', dn, name: dn, skills: {}, wrapUpMs: deadlineMs, maxNoAnswer: 0, credentials: null }, { type: 'login', dn }, { type: 'ready', dn }] as const) {
    t.match(await client.command(dn, cmd), { ok: true }, cmd.type);
  }

  await t.test(`stepped ${stepMinutes} minutes forward, a ${deadlineMs} ms reservation TTL still takes ${deadlineMs} ms`, async (t) => {
    const reservedAtMs = performance.now();
    t.match(await client.command(dn, { type: 'reserve', dn, reservationId: 'r1', callId: 'c1', owner: 'test', ttlMs: deadlineMs }), { ok: true }, 'reserved');
    stepTo(stepMinutes * 60);
    const waitedMs = await realMsUntilLeaves('RESERVED');
    const sinceReserveMs = performance.now() - reservedAtMs;
    t.ok(Number.isFinite(waitedMs), `the reservation expired (after ${Math.round(waitedMs)} ms of polling)`);
    t.ok(sinceReserveMs >= deadlineMs, `not before its TTL: ${Math.round(sinceReserveMs)} ms of real time after the reserve, TTL ${deadlineMs} ms`);
    t.equal(await state(), 'READY', 'the expired reservation returned the agent to READY');
  });

  await t.test(`stepped ${2 * stepMinutes} minutes back, a ${deadlineMs} ms wrap-up ends after ${deadlineMs} ms, not ${2 * stepMinutes} minutes`, async (t) => {
    t.match(await client.command(dn, { type: 'reserve', dn, reservationId: 'r2', callId: 'c2', owner: 'test', ttlMs: 60_000 }), { ok: true }, 'reserved');
    t.match(await client.command(dn, { type: 'confirm', dn, reservationId: 'r2' }), { ok: true }, 'confirmed');
    const endedAtMs = performance.now();
    t.match(await client.command(dn, { type: 'release', dn, reservationId: 'r2', outcome: 'completed' }), { ok: true }, 'call ended');
    t.equal(await state(), 'WRAP_UP', 'in wrap-up');
    stepTo(-stepMinutes * 60);
    const waitedMs = await realMsUntilLeaves('WRAP_UP');
    const sinceEndMs = performance.now() - endedAtMs;
    t.ok(Number.isFinite(waitedMs), `the wrap-up ended within ${frozenAfterMs} ms (after ${Math.round(waitedMs)} ms of polling): not frozen`);
    t.ok(sinceEndMs >= deadlineMs, `not before its length: ${Math.round(sinceEndMs)} ms of real time, wrap-up ${deadlineMs} ms`);
    t.equal(await state(), 'READY');
  });

  t.ok(procs.isRunning(shard.replicas[0]!.id), 'the replica is still running');
});
