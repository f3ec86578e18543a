// Proves `npm run cluster` (cluster/hosts-cli.ts) end to end: as a non-root user it
// refuses with exit 2 and a message naming root (so does --cleanup); as root it starts 3
// hosts in network namespaces, each with a store, a SIP node and a gateway, and
// demo phones in the root namespace, prints the admin REST and a SIPp command; a call
// placed with that command (SIPp in the root namespace, through a SIP node in h1, to a
// demo phone, with RTP through a gateway in a namespace) completes; SIGINT stops it with
// exit 0 and leaves none of the run's namespaces or links. Needs root (REQUIRE_ROOT=1
// makes its absence a failure) and SIPp for the call (REQUIRE_SIPP=1 likewise).
import { spawn, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { needSipp } from '../../cluster/sipp/driver.js';
import { netnsNamesPresent } from '../../cluster/netns.js';
import { nodeEntryArgs } from '../../common/node-entry.js';

const isRoot = process.getuid?.() === 0;
const skip = isRoot || process.env.REQUIRE_ROOT === '1' ? false : 'needs root for network namespaces (REQUIRE_ROOT=1 makes this a failure)';
const cliPath = fileURLToPath(new URL('../../cluster/hosts-cli.ts', import.meta.url));

t.test('not root: exit 2 and a message naming root', { skip }, async (t) => {
  t.ok(isRoot, 'running as root (to switch to an unprivileged user)');
  if (!isRoot) return;
  for (const args of [['--hosts', '3', '--shards', '4'], ['--cleanup']]) {
    // A new user namespace without a uid mapping: the CLI sees uid 65534 and none of root's
    // capabilities over the host's network, while the files it loads stay readable (a
    // setpriv'd uid 65534 cannot read a checkout under a mode-0700 directory, as CI's
    // mktemp -d clone is). Not tap's NODE_OPTIONS: its hooks write under .tap/.
    const r = spawnSync('unshare', ['--user', process.execPath, '--import', 'tsx', cliPath, ...args],
      { encoding: 'utf8', env: { PATH: process.env.PATH, HOME: '/tmp' }, timeout: 60_000 });
    t.equal(r.status, 2, `${args.join(' ')} as uid 65534: exit 2`);
    t.match(r.stderr, /needs root/, `it says root is needed: ${r.stderr.trim().split('\n')[0]}`);
  }
  const bad = spawnSync(process.execPath, ['--import', 'tsx', cliPath, '--layout', 'sideways'], { encoding: 'utf8', timeout: 60_000 });
  t.equal(bad.status, 2, 'a bad --layout: exit 2');
  t.match(bad.stderr, /--layout must be stores or co-hosted/, 'naming the flag');
});

t.test('3 hosts: ready text, a SIPp call through a host, Ctrl-C removes everything', { skip, timeout: 300_000 }, async (t) => {
  if (!isRoot || !needSipp(t)) return;
  const child = spawn(process.execPath, [...nodeEntryArgs(cliPath), '--hosts', '3', '--shards', '10', '--agents', '2'], { stdio: ['ignore', 'pipe', 'pipe'] });
  t.teardown(() => { if (child.exitCode === null) child.kill('SIGKILL'); });
  let out = '';
  let err = '';
  child.stdout!.on('data', (d: Buffer) => { out += d.toString(); });
  child.stderr!.on('data', (d: Buffer) => { err += d.toString(); });
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  await Promise.race([
    new Promise<void>((r) => { const poll = setInterval(() => { if (out.includes('Ctrl-C stops')) { clearInterval(poll); r(); } }, 100); }),
    exited.then((code) => { throw new Error(`cluster exited ${code} before it was ready:\n${out}\n${err}`); }),
  ]);
  const tag = /bridge (rfh[0-9a-z_]+)-br/.exec(out)?.[1];
  t.ok(tag, `the ready text names the lab (${tag})`);
  t.equal(netnsNamesPresent(tag!).length, 7, '3 namespaces, 3 veths and a bridge exist');
  t.match(out, /Admin REST and dashboard: http:\/\/10\.213\.\d+\.11:8080\//, 'it says where the admin REST is (on h1\'s address)');
  const sippLine = out.split('\n').find((l) => l.trim().startsWith('sipp '))!.trim();
  const argv = sippLine.split(/\s+/).slice(1);
  // The printed call holds 5 s; the same call, shorter, with a bound on the whole run.
  const hold = argv.indexOf('hold_min_ms');
  argv[hold + 1] = '1000';
  const call = spawnSync('sipp', [...argv, '-nostdin', '-timeout', '60s', '-timeout_error'], { encoding: 'utf8', timeout: 90_000, cwd: '/tmp' });
  t.equal(call.status, 0, `the printed SIPp command's call completed (exit ${call.status})`);
  child.kill('SIGINT');
  t.equal(await exited, 0, 'SIGINT: exit 0');
  t.match(out, /namespaces, links and rules of rfh[0-9a-z_]+ removed/, 'it says it removed them');
  t.same(netnsNamesPresent(tag!), [], 'none of the run\'s namespaces or links is left');
});
