// Summarizes a V8 .cpuprofile (from `node --cpu-prof`, e.g. `bench raft --profile DIR`):
// where the process spent its time, by function (self time) and by area of the code
// (inclusive time: a sample counts for every area on its stack), so a bench report can
// say exactly where the time goes.
//
//   node --import tsx bench/profile-summary.ts <file.cpuprofile> [--top 25]

import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

type CallFrame = { functionName: string; url: string; lineNumber: number };
type ProfileNode = { id: number; callFrame: CallFrame; children?: number[] };
type CpuProfile = { nodes: ProfileNode[]; samples: number[]; timeDeltas: number[]; startTime: number; endTime: number };

export type ProfileSummary = Readonly<{
  totalMs: number;
  /** Self time by function, descending. */
  functions: Array<{ name: string; where: string; selfMs: number; selfPct: number }>;
  /** Inclusive time by area, descending. */
  areas: Array<{ area: string; ms: number; pct: number }>;
}>;

/** The code area a frame belongs to (the folder that explains the cost). */
/** The checkout this file is in: a git worktree is as good as /work/main. */
const repoRoot = fileURLToPath(new URL('../', import.meta.url));

/** A frame's file relative to the checkout (`node_modules/...` for a package wherever it
 * resolves, since a worktree's node_modules may be a symlink to another checkout's), or
 * null for a file outside it. */
export function repoPathOf(url: string, root = repoRoot): string | null {
  const file = url.replace(/^file:\/\//, '').replace(/\?.*$/, '');
  const nm = file.lastIndexOf('/node_modules/');
  if (nm >= 0) return file.slice(nm + 1);
  return file.startsWith(root) ? file.slice(root.length) : null;
}

export function areaOf(frame: CallFrame): string {
  const { url, functionName } = frame;
  if (url === '') {
    if (functionName === '(garbage collector)') return 'gc';
    if (functionName === '(idle)') return 'idle';
    if (functionName === '(program)') return 'program (native, unattributed)';
    return 'native';
  }
  const path = repoPathOf(url);
  if (path !== null) {
    if (path.startsWith('node_modules/')) {
      const pkg = /^node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(path);
      return `npm:${pkg?.[1] ?? '?'}`;
    }
    const parts = path.split('/');
    return parts.length > 2 ? `${parts[0]}/${parts[1]}` : path;
  }
  if (url.startsWith('node:')) {
    if (/node:(internal\/)?(net|stream|internal\/stream)/.test(url)) return 'node:net+streams';
    if (/node:(internal\/)?(fs|internal\/fs)/.test(url)) return 'node:fs';
    if (/timers/.test(url)) return 'node:timers';
    return 'node:other';
  }
  return url;
}

export function summarizeProfile(profile: CpuProfile, top = 25): ProfileSummary {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const selfUs = new Map<number, number>();
  // timeDeltas[i] is the time since the previous sample: charge it to sample i.
  for (let i = 0; i < profile.samples.length; i++) {
    const id = profile.samples[i]!;
    selfUs.set(id, (selfUs.get(id) ?? 0) + Math.max(0, profile.timeDeltas[i] ?? 0));
  }
  let totalUs = 0;
  for (const v of selfUs.values()) totalUs += v;

  const fn = new Map<string, { name: string; where: string; us: number }>();
  const area = new Map<string, number>();
  for (const [id, us] of selfUs) {
    const node = byId.get(id)!;
    const cf = node.callFrame;
    const where = cf.url ? `${repoPathOf(cf.url) ?? cf.url}:${cf.lineNumber + 1}` : '';
    const key = `${cf.functionName}@${where}`;
    const e = fn.get(key) ?? { name: cf.functionName || '(anonymous)', where, us: 0 };
    e.us += us;
    fn.set(key, e);
    const seen = new Set<string>();
    for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
      const a = areaOf(byId.get(at)!.callFrame);
      if (a === 'native' && at !== id) continue; // the root and other native frames say nothing
      seen.add(a);
    }
    for (const a of seen) area.set(a, (area.get(a) ?? 0) + us);
  }
  const pct = (us: number): number => Math.round((1000 * us) / totalUs) / 10;
  return {
    totalMs: Math.round(totalUs / 1000),
    functions: [...fn.values()]
      .sort((a, b) => b.us - a.us)
      .slice(0, top)
      .map((e) => ({ name: e.name, where: e.where, selfMs: Math.round(e.us / 1000), selfPct: pct(e.us) })),
    areas: [...area.entries()].sort((a, b) => b[1] - a[1]).map(([a, us]) => ({ area: a, ms: Math.round(us / 1000), pct: pct(us) })),
  };
}

function main(): void {
  const file = process.argv[2];
  if (!file) {
    process.stderr.write('usage: node --import tsx bench/profile-summary.ts <file.cpuprofile> [--top N]\n');
    process.exit(2);
  }
  const topAt = process.argv.indexOf('--top');
  const top = topAt > 0 ? Number(process.argv[topAt + 1]) : 25;
  const s = summarizeProfile(JSON.parse(readFileSync(file, 'utf8')) as CpuProfile, top);
  process.stdout.write(`total sampled ${s.totalMs} ms\n\ninclusive by area:\n`);
  for (const a of s.areas) process.stdout.write(`  ${String(a.pct).padStart(5)}%  ${String(a.ms).padStart(6)} ms  ${a.area}\n`);
  process.stdout.write(`\nself time by function (top ${top}):\n`);
  for (const f of s.functions) process.stdout.write(`  ${String(f.selfPct).padStart(5)}%  ${String(f.selfMs).padStart(6)} ms  ${f.name}  ${f.where}\n`);
}

if (process.argv[1] && import.meta.url.endsWith(process.argv[1].split('/').pop()!)) main();
