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
