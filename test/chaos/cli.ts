// `npm run chaos -- [--minutes M] [--seed S] [--json] [--sip auto|on|off] [--layout separate|co-hosted] [--preferred-leaders]
// [--nemesis-sip-gone] [--nemesis-evict-sessions] [--lease-ms MS] [--hosts 3 --shards 100 [--hosts-layout stores|co-hosted]]`:
// one chaos run over a local cluster of real processes; with --hosts (as root) over hosts
// in network namespaces, with partitions between them besides the kills. Prints progress, a summary, the HTML timeline's
// path (chaos-report/chaos-<seed>.html), and as its last line the verdict:
// {"chaos":true,"seed":S,"minutes":M,"kills":K,"calls":N,"violations":V,"leaked":L,"hung":H,"inversions":I}
// (with --hosts: ...,"inversions":I,"hosts":3,"shards":N,"partitions":P})
// Exits 1 when anything was violated, leaked or hung, or a queued caller was served out of
// arrival order outside a killed node's callers (I > 0); 2 on bad flags.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseFlags, UsageError } from '../../common/args.js';
import { requireNetnsTools } from '../../cluster/netns.js';
import { runChaos } from './engine.js';
import { finalLine, humanSummary, runFailed } from './report.js';
import { renderChaosHtml } from './report-html.js';

const flags = {
  minutes: { type: 'string', help: 'minutes of load and kills', default: '2' },
  seed: { type: 'string', help: 'seed of the nemesis plan and the load (default: random)' },
  json: { type: 'boolean', help: 'also print the full result as one JSON line before the final line' },
  sip: { type: 'string', help: 'SIP layer: auto (when sip, phones and SIPp exist), on, off', default: 'auto' },
  'kill-interval-ms': { type: 'string', help: 'nominal time between kills', default: '5000' },
  'report-dir': { type: 'string', help: 'where the HTML timeline goes', default: 'chaos-report' },
  keep: { type: 'boolean', help: 'keep the cluster data and logs (path printed)' },
  layout: { type: 'string', help: 'shard replicas: separate (a process each) or co-hosted (3 processes, each a replica of every shard)', default: 'separate' },
  'preferred-leaders': { type: 'boolean', help: 'give each shard a preferredLeader, so elected leaders hand leadership back to it during the run' },
  'nemesis-sip-gone': { type: 'boolean', help: 'also SIGKILL one SIP node for good (never restarted) a third into the load; its agents must come back READY by lease expiry' },
  'nemesis-evict-sessions': { type: 'boolean', help: 'also open enough client sessions on a shard, every --evict-interval-ms, to evict the SIP nodes\' and load clients\' sessions' },
  'evict-interval-ms': { type: 'string', help: 'time between two session-eviction bursts', default: '20000' },
  'lease-ms': { type: 'string', help: 'the SIP nodes\' --lease-ms (default: theirs; 3000 with --nemesis-sip-gone)' },
  hosts: { type: 'string', help: 'hosts in network namespaces (as root), each a store, a SIP node and a gateway, with partitions between them besides the kills; 0: all on loopback', default: '0' },
  shards: { type: 'string', help: 'DN shards (default 2; with --hosts, 100)' },
  'hosts-layout': { type: 'string', help: 'with --hosts: stores (a ringfence store per host) or co-hosted (a shard process per host)', default: 'stores' },
} as const;

async function main(): Promise<number> {
  const f = parseFlags(process.argv.slice(2), flags, 'npm run chaos -- [--minutes M] [--seed S] [--json]');
  const minutes = Number(f.minutes);
  if (!(minutes > 0 && minutes <= 240)) throw new UsageError('--minutes must be a number in (0, 240]');
  const seed = f.seed === undefined ? Math.floor(Math.random() * 2 ** 31) : Number(f.seed);
  if (!Number.isInteger(seed) || seed < 0) throw new UsageError('--seed must be a non-negative integer');
  const sip = f.sip as 'auto' | 'on' | 'off';
  if (!['auto', 'on', 'off'].includes(sip)) throw new UsageError('--sip must be auto, on or off');
  const layout = f.layout as 'separate' | 'co-hosted';
  if (!['separate', 'co-hosted'].includes(layout)) throw new UsageError(`--layout must be separate or co-hosted, got ${JSON.stringify(f.layout)}`);
  const killIntervalMs = Number(f['kill-interval-ms']);
  if (!(killIntervalMs >= 500)) throw new UsageError('--kill-interval-ms must be at least 500');
  const t0 = Date.now();
  const say = (line: string): void => {
    process.stderr.write(`[chaos +${((Date.now() - t0) / 1000).toFixed(1)}s] ${line}\n`);
  };
  const preferredLeaders = f['preferred-leaders'] === true;
  const sipGone = f['nemesis-sip-gone'] === true;
  const evictSessions = f['nemesis-evict-sessions'] === true;
  const evictIntervalMs = Number(f['evict-interval-ms']);
  if (!(evictIntervalMs >= 2000)) throw new UsageError('--evict-interval-ms must be at least 2000');
  const leaseMs = f['lease-ms'] === undefined ? undefined : Number(f['lease-ms']);
  if (leaseMs !== undefined && !(Number.isInteger(leaseMs) && leaseMs >= 1000 && leaseMs <= 600_000)) throw new UsageError('--lease-ms must be an integer in [1000, 600000]');
  const hosts = Number(f.hosts ?? '0');
  if (!(Number.isInteger(hosts) && (hosts === 0 || (hosts >= 3 && hosts <= 8)))) throw new UsageError(`--hosts must be 0 or an integer from 3 to 8, got ${JSON.stringify(f.hosts)}`);
  const shards = f.shards === undefined ? undefined : Number(f.shards);
  if (shards !== undefined && !(Number.isInteger(shards) && shards >= 1 && shards <= 1000)) throw new UsageError(`--shards must be an integer from 1 to 1000, got ${JSON.stringify(f.shards)}`);
  const hostsLayout = f['hosts-layout'] as 'stores' | 'co-hosted';
  if (!['stores', 'co-hosted'].includes(hostsLayout)) throw new UsageError(`--hosts-layout must be stores or co-hosted, got ${JSON.stringify(f['hosts-layout'])}`);
  if (hosts > 0 && (layout !== 'separate' || preferredLeaders)) throw new UsageError('--hosts places replicas itself (--hosts-layout); --layout and --preferred-leaders are for the loopback cluster');
  if (hosts > 0) {
    requireNetnsTools('npm run chaos -- --hosts');
    // Exit through process.exit, so the exit handlers kill the processes and remove the
    // namespaces (a signal's default action would skip them and leave both behind).
    process.once('SIGINT', () => process.exit(130));
    process.once('SIGTERM', () => process.exit(143));
  }
  const hostsFlags = hosts > 0 ? ` --hosts ${hosts}${hostsLayout === 'stores' ? '' : ` --hosts-layout ${hostsLayout}`}` : '';
  const extraFlags = `${hostsFlags}${shards === undefined ? '' : ` --shards ${shards}`}${sipGone ? ' --nemesis-sip-gone' : ''}${evictSessions ? ' --nemesis-evict-sessions' : ''}${leaseMs === undefined ? '' : ` --lease-ms ${leaseMs}`}`;
  say(`seed ${seed} (replay with --seed ${seed}${layout === 'separate' ? '' : ` --layout ${layout}`}${preferredLeaders ? ' --preferred-leaders' : ''}${extraFlags})`);
  const result = await runChaos({ minutes, seed, sip, killIntervalMs, keepData: f.keep, layout, preferredLeaders, sipGone, evictSessions, evictIntervalMs, leaseMs, hosts, hostsLayout, ...(shards === undefined ? {} : { shards }), log: say });
  const line = finalLine(result);
  const reportDir = resolve(f['report-dir'] ?? 'chaos-report');
  mkdirSync(reportDir, { recursive: true });
  const htmlPath = join(reportDir, `chaos-${seed}.html`);
  writeFileSync(htmlPath, renderChaosHtml(result, line));
  for (const l of humanSummary(result)) process.stdout.write(`${l}\n`);
  if (f.keep) process.stdout.write(`cluster data and logs: ${result.dir}\n`);
  process.stdout.write(`timeline: ${htmlPath}\n`);
  if (f.json) {
    // The full timeline and per-second series are in the HTML; the JSON line stays readable.
    const { history: _h, timeline: _t, callsPerSecond: _c, queueDepthPerSecond: _q, ...rest } = result;
    process.stdout.write(`${JSON.stringify({ ...rest, htmlPath })}\n`);
  }
  process.stdout.write(`${line}\n`);
  return runFailed(result) ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (err: Error & { code?: string }) => {
    process.stderr.write(`chaos: ${err.code ? `${err.code}: ` : ''}${err.message}\n`);
    process.exit(err instanceof UsageError ? 2 : 1);
  },
);
