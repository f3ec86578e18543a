// Where a bench step's call-setup time went, from the SIP nodes' own
// ringfence_sip_setup_phase_seconds histograms: scrape before and after the step, subtract,
// and read each phase's p50/p99 as the upper bound of the bucket it falls in (a histogram
// only knows that much). Pure parsing plus one admin GET per node.

import { adminGet } from '../cluster/cluster-view.js';
import type { ClusterConfig } from '../common/config.js';
import { setupPhases } from '../sip/node/metrics.js';

/** Cumulative bucket counts per phase: phase → (upper bound in seconds → count). */
export type PhaseBuckets = Map<string, Map<number, number>>;

const BUCKET_LINE = /^ringfence_sip_setup_phase_seconds_bucket\{([^}]*)\} (\d+(?:\.\d+)?)$/;

/** Parses the histogram's bucket lines out of a Prometheus text exposition, summing over
 * nodes. */
export function parsePhaseBuckets(text: string, into: PhaseBuckets = new Map()): PhaseBuckets {
  for (const line of text.split('\n')) {
    const m = BUCKET_LINE.exec(line);
    if (m === null) continue;
    const labels = Object.fromEntries([...m[1]!.matchAll(/(\w+)="([^"]*)"/g)].map((l) => [l[1]!, l[2]!]));
    const phase = labels['phase'];
    const le = labels['le'] === '+Inf' ? Number.POSITIVE_INFINITY : Number(labels['le']);
    if (phase === undefined || Number.isNaN(le)) continue;
    const buckets = into.get(phase) ?? new Map<number, number>();
    buckets.set(le, (buckets.get(le) ?? 0) + Number(m[2]));
    into.set(phase, buckets);
  }
  return into;
}

export type PhaseSummary = Readonly<{ count: number; p50UpToMs: number; p99UpToMs: number }>;

/** after − before, per phase: how many observations and the bucket bound (ms) holding the
 * 50th and 99th percentile (Infinity when it is in the +Inf bucket). */
export function summarizePhases(before: PhaseBuckets, after: PhaseBuckets): Record<string, PhaseSummary> {
  const out: Record<string, PhaseSummary> = {};
  for (const [phase, buckets] of after) {
    const bounds = [...buckets.keys()].sort((a, b) => a - b);
    const counts = bounds.map((b) => buckets.get(b)! - (before.get(phase)?.get(b) ?? 0));
    const total = counts[counts.length - 1] ?? 0;
    if (total <= 0) continue;
    const upTo = (q: number): number => bounds[counts.findIndex((c) => c >= q * total)]! * 1000;
    out[phase] = { count: total, p50UpToMs: upTo(0.5), p99UpToMs: upTo(0.99) };
  }
  return out;
}

/** Scrapes every SIP node's /metrics (read token) and sums their phase buckets. */
export async function scrapePhases(config: ClusterConfig): Promise<PhaseBuckets> {
  const into: PhaseBuckets = new Map();
  for (const n of config.sip) {
    const res = await adminGet(n.admin, '/metrics', config.tokens.read, 10_000);
    if (res.status !== 200) throw new Error(`GET /metrics on ${n.id}: HTTP ${res.status}`);
    parsePhaseBuckets(res.text, into);
  }
  return into;
}

/** "reserve ≤10/≤50 ms" for each phase, in setup order. */
export function formatPhases(s: Record<string, PhaseSummary>): string {
  const order: readonly string[] = setupPhases;
  const ms = (v: number): string => (Number.isFinite(v) ? `≤${v}` : 'beyond the last bucket');
  return Object.keys(s)
    .sort((a, b) => order.indexOf(a) - order.indexOf(b))
    .map((p) => `${p} ${ms(s[p]!.p50UpToMs)}/${ms(s[p]!.p99UpToMs)}`)
    .join(', ');
}
