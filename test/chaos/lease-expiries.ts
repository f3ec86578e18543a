// Follows every shard's change feed during a chaos run and keeps what the lease rule does:
// each agent freed by a lease expiry (kind 'expireLease': the leader ended a SIP node's
// lease and put the node's agents in WRAP_UP for their orphan hold) and when each agent
// was next seen READY, on the test's clock (the time a page arrived, an upper bound).
import type { ShardClient } from '../../shards/client/shard-client.js';

export type LeaseExpiry = Readonly<{ shard: string; index: number; dn: string; atMs: number; readyAtMs: number | null }>;

export type LeaseExpiryReport = Readonly<{
  records: readonly LeaseExpiry[];
  /** Longest time from `sinceMs` until an agent freed by a lease expiry at or after it
   * was READY again (Infinity if one never was while followed; 0 if none was freed). */
  readyAfterMs: (sinceMs: number) => number;
}>;

export function followLeaseExpiries(client: ShardClient, nowMs: () => number = Date.now): { stop: () => LeaseExpiryReport } {
  const records: { shard: string; index: number; dn: string; atMs: number; readyAtMs: number | null }[] = [];
  const seen = new Set<string>();
  const stops = client.shardIds.map((shard) => client.follow(shard, 0, (page) => {
    const atMs = nowMs();
    for (const c of page.changes) {
      const key = `${shard}:${c.index}:${c.dn}:${c.kind}`;
      if (seen.has(key)) continue;
      seen.add(key);
      if (c.kind === 'expireLease') records.push({ shard, index: c.index, dn: c.dn, atMs, readyAtMs: null });
      else if (c.agent?.status.state === 'READY') {
        for (const r of records) if (r.dn === c.dn && r.readyAtMs === null && c.index > r.index) r.readyAtMs = atMs;
      }
    }
  }));
  return {
    stop: () => {
      for (const s of stops) s();
      const frozen = records.map((r) => ({ ...r }));
      return {
        records: frozen,
        readyAfterMs: (sinceMs) => frozen.filter((r) => r.atMs >= sinceMs).reduce((m, r) => Math.max(m, (r.readyAtMs ?? Infinity) - sinceMs), 0),
      };
    },
  };
}

/** How long after a node was killed for good every agent its lease freed was READY again
 * (seconds), or null if no node went for good. A node gone for good may have been killed
 * and restarted before: its kill for good is its LAST kill (it never restarts after it).
 * Measuring from its first kill counted the minutes it served in between (a 10-minute run
 * reported 204.8 s for a 7.6 s recovery). `killsMsOf` gives a node's kill times. */
export function goneNodesRecoveryS(gone: readonly string[], killsMsOf: (node: string) => readonly number[], report: Pick<LeaseExpiryReport, 'readyAfterMs'>): number | null {
  const goneKillMs = gone.map((n) => Math.max(...killsMsOf(n))).filter((ms) => Number.isFinite(ms));
  return goneKillMs.length === 0 ? null : report.readyAfterMs(Math.min(...goneKillMs)) / 1000;
}
