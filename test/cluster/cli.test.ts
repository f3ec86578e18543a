// Proves the CLI's contract with operators and supervisors, on real processes of
// `ringfence <role>`: --help exits 0 and lists every flag of the role's table; --version
// prints package.json's version (also through bin/ringfence.js from another directory);
// a bad flag exits 2; a bad cluster file — unreadable, not YAML, a typo'd key — exits 78
// naming the field and the key it was meant to be, in every role; RINGFENCE_<FLAG> fills
// a flag in every role (the gateway's too).
import { execFile } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { parse as parseYaml, stringify as toYaml } from 'yaml';
import { writeLocalClusterConfig } from '../../cluster/local-cluster.js';
import type { FlagSpec } from '../../common/args.js';
import { nodeEntryArgs } from '../../common/node-entry.js';
import { tempDir } from '../support/temp-dir.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const cliPath = join(root, 'cluster/cli.ts');
const binPath = join(root, 'bin/ringfence.js');
const version = (JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string }).version;

type Run = { code: number | null; stdout: string; stderr: string };

/** Runs `ringfence <args>`; the environment has no RINGFENCE_* but what `env` adds. */
function ringfence(args: readonly string[], env: NodeJS.ProcessEnv = {}, via: 'cli' | 'bin' = 'cli', cwd = root): Promise<Run> {
  const base = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('RINGFENCE_')));
  const argv = via === 'bin' ? [binPath, ...args] : [...nodeEntryArgs(cliPath), ...args];
  return new Promise((resolve) => {
    execFile(process.execPath, argv, { cwd, env: { ...base, ...env }, timeout: 60_000, encoding: 'utf8' }, (err, stdout, stderr) => {
      resolve({ code: err === null ? 0 : typeof err.code === 'number' ? err.code : null, stdout, stderr });
    });
  });
}

const roleFlags = async (): Promise<Record<string, FlagSpec>> => ({
  shard: (await import('../../cluster/roles/shard.js')).flags,
  store: (await import('../../cluster/roles/store.js')).flags,
  sip: (await import('../../cluster/roles/sip.js')).flags,
  phones: (await import('../../cluster/roles/phones.js')).flags,
  gateway: (await import('../../cluster/roles/gateway.js')).flags,
  start: (await import('../../cluster/launcher.js')).flags,
});

t.test('--help exits 0 and lists every flag of every role', async (t) => {
  const tables = await roleFlags();
  const runs = await Promise.all(Object.keys(tables).map(async (role) => [role, await ringfence([role, '--help'])] as const));
  for (const [role, run] of runs) {
    t.equal(run.code, 0, `${role} --help exits 0`);
    for (const flag of [...Object.keys(tables[role]!), 'help', 'version']) t.match(run.stdout, new RegExp(`^  --${flag}\\b`, 'm'), `${role} --help lists --${flag}`);
  }
  const top = await ringfence(['--help']);
  t.equal(top.code, 0);
  for (const role of Object.keys(tables)) t.match(top.stdout, new RegExp(`^  ${role} `, 'm'), `ringfence --help lists ${role}`);
});

t.test('--version on ringfence and on every role, from package.json', async (t) => {
  const expected = `ringfence ${version}\n`;
  const runs = await Promise.all([
    ringfence(['--version']),
    ...['shard', 'store', 'sip', 'phones', 'gateway', 'start'].map((role) => ringfence([role, '--version'])),
    // The installed binary, run from another directory (as systemd or npm exec would).
    ringfence(['--version'], {}, 'bin', '/'),
  ]);
  for (const run of runs) t.same({ code: run.code, stdout: run.stdout }, { code: 0, stdout: expected });
});

t.test('usage errors exit 2, naming the flag', async (t) => {
  const dir = tempDir(t, 'cli');
  const { path } = await writeLocalClusterConfig({ dir, shards: 1, sipNodes: 1, gateways: 1 });
  const [bogus, noId, gwId, sipId, shardId] = await Promise.all([
    ringfence(['sip', '--bogus']),
    ringfence(['gateway', '--config', path]),
    ringfence(['gateway', '--config', path, '--id', 'gw9']),
    ringfence(['sip', '--config', path, '--id', 'sip9']),
    ringfence(['shard', '--config', path, '--id', 's9-a']),
  ]);
  t.match(bogus, { code: 2, stderr: /Unknown option '--bogus'/ });
  t.match(noId, { code: 2, stderr: /--id is required/ });
  t.match(gwId, { code: 2, stderr: /--id: no gateway "gw9"/ });
  t.match(sipId, { code: 2, stderr: /--id: no sip node "sip9"/ });
  t.match(shardId, { code: 2, stderr: /--id: no replica "s9-a"/ });
  const stores = await writeLocalClusterConfig({ dir: join(dir, 'stores'), shards: 2, stores: 3 });
  const [storeId, noStores, onStore] = await Promise.all([
    ringfence(['store', '--config', stores.path, '--id', 'zz']),
    ringfence(['store', '--config', path, '--id', 'a']),
    ringfence(['shard', '--config', stores.path, '--id', 's1-a']),
  ]);
  t.match(storeId, { code: 2, stderr: /--id: no store "zz" in the cluster file \(it has a, b, c\)/ });
  t.match(noStores, { code: 2, stderr: /--id: no store "a" in the cluster file \(it has no stores section\)/ });
  t.match(onStore, { code: 2, stderr: /--id: replica s1-a lives on store a; run `ringfence store --id a`/ }, 'a replica placed on a store is not started on its own');
});

t.test('a bad cluster file exits 78 in every role, naming the field', async (t) => {
  const dir = tempDir(t, 'cli');
  const { path } = await writeLocalClusterConfig({ dir, shards: 1, sipNodes: 1, gateways: 1 });
  const doc = parseYaml(readFileSync(path, 'utf8')) as { shards: Record<string, unknown>[] };
  doc.shards[0]!.preferedLeader = 's1-a';
  const typo = join(dir, 'typo.yaml');
  writeFileSync(typo, toYaml(doc), { mode: 0o600 });
  const notYaml = join(dir, 'not-yaml.yaml');
  writeFileSync(notYaml, 'shards: [unclosed\n', { mode: 0o600 });
  const launcherDir = join(dir, 'launcher');
  await writeLocalClusterConfig({ dir: launcherDir, shards: 1 });
  writeFileSync(join(launcherDir, 'cluster.yaml'), toYaml(doc), { mode: 0o600 });

  const roles: [string, string][] = [['shard', 's1-a'], ['sip', 'sip1'], ['phones', 'phones1'], ['gateway', 'gw1']];
  const runs = await Promise.all([
    ...roles.map(([role, id]) => ringfence([role, '--config', typo, '--id', id])),
    ringfence(['start', '--data', launcherDir, '--shards', '1']),
    // The gateway takes its flags from the environment like every role.
    ringfence(['gateway', '--id', 'gw1'], { RINGFENCE_CONFIG: typo }),
  ]);
  for (const [i, run] of runs.entries()) {
    t.equal(run.code, 78, `run ${i} exits 78 (EX_CONFIG)`);
    t.match(run.stderr, /shards\[0\]\.preferedLeader: unknown key; did you mean preferredLeader\?/, `run ${i} names the key and the one meant`);
  }
  const [missing, broken] = await Promise.all([
    ringfence(['sip', '--config', join(dir, 'absent.yaml'), '--id', 'sip1']),
    ringfence(['gateway', '--config', notYaml, '--id', 'gw1']),
  ]);
  t.match(missing, { code: 78, stderr: /cannot read .*absent\.yaml/ });
  t.match(broken, { code: 78, stderr: /not-yaml\.yaml is not valid YAML/ });
});
