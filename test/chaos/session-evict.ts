// The session-eviction nemesis: a shard's client-session table is bounded (shards/limits.ts
// sessionsMax) and a full table evicts its least recently active session when another
// opens (shards/sessions.ts). Opening more than sessionsMax sessions in one burst, as the
// `launcher` principal over a dedicated connection to the leader, pushes out every session
// not used during the burst: the SIP nodes' and the load clients'. Their next command on
// an evicted session gets SHARD_ERR_SESSION_EXPIRED, and the shard client must re-open
// (shards/client/shard-client.ts, the session-loss rule) for calls to go on.
import type { ClusterConfig } from '../../common/config.js';
import { encodeProposal } from '../../shards/commands.js';
import { sessionsMax } from '../../shards/limits.js';
import { RpcConnection, RpcError } from '../../shards/rpc/connection.js';

/** Sessions one burst opens: the whole table and some, so sessions touched early in the
 * burst are pushed out too. */
export const evictionBurstSessions = sessionsMax + 256;
const inFlightMax = 32;
const attemptTimeoutMs = 3000;

export type EvictionResult = Readonly<{ opened: number; failed: number; tookMs: number }>;

/** Opens `count` sessions on `shardId`, starting at replica `firstReplica` (the leader, if
 * known) and following NotLeader hints. Gives up after `budgetMs`. */
export async function evictSessions(config: ClusterConfig, shardId: string, firstReplica: string | null, budgetMs: number, count = evictionBurstSessions): Promise<EvictionResult> {
  const shard = config.shards.find((s) => s.id === shardId)!;
  const began = Date.now();
  const proposal = Buffer.from(encodeProposal({ session: null, command: { type: 'openSession' } })).toString('utf8');
  let replica = firstReplica ?? shard.replicas[0]!.id;
  let conn: Promise<RpcConnection> | null = null;
  let opened = 0;
  let failed = 0;
  // One connection at a time, shared by the workers (opened once, replaced on failure).
  const connect = (): Promise<RpcConnection> => {
    if (conn === null) {
      const r = shard.replicas.find((x) => x.id === replica)!;
      conn = RpcConnection.open(r.client.host, r.client.port, { secret: config.secret, principal: 'launcher', replicaId: r.id });
      conn.catch(() => {});
    }
    return conn;
  };
  const next = (hint: string | null): void => {
    conn?.then((c) => c.close(), () => {});
    conn = null;
    const i = shard.replicas.findIndex((r) => r.id === replica);
    replica = hint !== null && shard.replicas.some((r) => r.id === hint) ? hint : shard.replicas[(i + 1) % shard.replicas.length]!.id;
  };
  let left = count;
  const worker = async (): Promise<void> => {
    while (left > 0 && Date.now() - began < budgetMs) {
      left--;
      try {
        const c = await connect();
        const { result } = await c.request({ op: 'propose', proposal, timeoutMs: attemptTimeoutMs }, attemptTimeoutMs);
        if ((result as { ok?: boolean }).ok === true) opened++;
        else failed++;
      } catch (err) {
        failed++;
        left++; // the open may not have happened: try another
        next(err instanceof RpcError && err.code === 'RAFT_ERR_NOT_LEADER' ? err.leaderHint : null);
        await new Promise((r) => setTimeout(r, 50));
      }
    }
  };
  try {
    await Promise.all(Array.from({ length: inFlightMax }, worker));
  } finally {
    next(null);
  }
  return { opened, failed, tookMs: Date.now() - began };
}
