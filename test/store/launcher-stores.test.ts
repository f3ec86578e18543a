// `npm start -- --stores 3 --shards 6`: the local cluster with its replicas on three store
// processes instead of one process per replica. Real processes: the launcher's ready text
// names the layout; the data directory holds one LevelDB per store and none per replica;
// the SIP node's /readyz turns 200 and its cluster view shows every replica of the 6
// shards up in one of 3 processes; a SIPp call to the support line is answered by a demo
// agent (the SIP node reserves it on a store-hosted shard). Skipped without SIPp unless
// REQUIRE_SIPP=1.
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { parse as parseYaml } from 'yaml';
import { freePorts } from '../../cluster/local-cluster.js';
import { needSipp, scenarioPath, startSippFor } from '../../cluster/sipp/driver.js';
import { nodeEntryArgs } from '../../common/node-entry.js';
import { tempDir } from '../support/temp-dir.js';

const root = fileURLToPath(new URL('../..', import.meta.url));

t.test('npm start --stores 3 --shards 6', { timeout: 240_000 }, async (t) => {
  if (!needSipp(t)) return;
  const dir = tempDir(t, 'launcher-stores');
  const [sipPort, adminPort, callerPort, tlsPort] = await freePorts(4);
  const launcher = spawn(process.execPath, [...nodeEntryArgs(join(root, 'cluster/cli.ts')), 'start', '--stores', '3', '--shards', '6', '--agents', '1', '--data', dir, '--sip-port', String(sipPort), '--admin-port', String(adminPort), '--sip-tls-port', String(tlsPort)], {
    cwd: root, env: Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('RINGFENCE_'))), stdio: ['ignore', 'pipe', 'pipe'], detached: true,
  });
  // Its own process group: the teardown ends the launcher and every child it started.
  t.teardown(async () => {
    if (launcher.exitCode !== null || launcher.signalCode !== null) return;
    const gone = new Promise((r) => launcher.once('exit', r));
    process.kill(-launcher.pid!, 'SIGTERM');
    const hard = setTimeout(() => process.kill(-launcher.pid!, 'SIGKILL'), 8000);
    await gone;
    clearTimeout(hard);
  });
  let out = '';
  let err = '';
  launcher.stdout!.on('data', (d: Buffer) => (out += d.toString('utf8')));
  launcher.stderr!.on('data', (d: Buffer) => (err += d.toString('utf8')));
  await new Promise<void>((resolve, reject) => {
    launcher.stdout!.on('data', () => out.includes('ringfence: ready') && resolve());
    launcher.once('exit', (code) => reject(new Error(`the launcher exited (${code}) before it was ready: ${out}\n${err}`)));
  });
  t.match(out, /ringfence: ready — 6 shards × 3 replicas on 3 stores, SIP on/, 'the ready text names the layout');
  for (const id of ['a', 'b', 'c']) t.ok(existsSync(join(dir, `store-${id}`, 'CURRENT')), `store ${id} keeps every group's log in one LevelDB`);
  t.notOk(readdirSync(dir).some((f) => /^s\d+-[a-c]$/.test(f)), 'no replica has a directory of its own');

  const readToken = (parseYaml(readFileSync(join(dir, 'cluster.yaml'), 'utf8')) as { tokens: { read: string } }).tokens.read;
  for (let i = 0; ; i++) {
    const ready = await fetch(`http://127.0.0.1:${adminPort}/readyz`);
    if (ready.status === 200) break;
    if (i > 300) throw new Error(`the SIP node's /readyz: ${await ready.text()}`);
    await sleep(100);
  }
  t.pass('the SIP node is ready: a quorum with a leader on every store-hosted shard');
  type View = { shards: { replicas: { health: string; pid: number | null }[] }[] };
  let view: View = { shards: [] };
  for (let i = 0; i < 100; i++, await sleep(100)) {
    view = (await (await fetch(`http://127.0.0.1:${adminPort}/v1/cluster`, { headers: { authorization: `Bearer ${readToken}` } })).json()) as View;
    if (view.shards.length === 6 && view.shards.every((s) => s.replicas.every((r) => r.health === 'up'))) break;
  }
  const replicas = view.shards.flatMap((s) => s.replicas);
  t.equal(replicas.filter((r) => r.health === 'up').length, 18, 'the cluster view: 18 replicas up');
  t.equal(new Set(replicas.map((r) => r.pid)).size, 3, 'in 3 processes');

  const callerDir = join(dir, 'caller');
  const call = await startSippFor(t, {
    scenario: scenarioPath('caller'), dir: callerDir, remote: `127.0.0.1:${sipPort}`, localPort: callerPort!, service: '5000',
    maxCalls: 1, timeoutS: 60, set: { hold_min_ms: 200, hold_spread_ms: 0 },
  });
  const result = await call.done;
  t.equal(result.stats?.successful, 1, `the demo agent answered (errors: ${result.errorLog})`);
});
