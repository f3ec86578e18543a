// Cluster-wide answers made on one SIP node: the same GET, with `scope=node`, sent to every
// other SIP node of the cluster file's admin REST (read token), answers gathered in
// parallel, each within a deadline. A node that does not answer in time (or answers with
// anything but 200 JSON) is named in `partial`, never waited for past the deadline and
// never silently left out.
import type { ClusterConfig } from '../../common/config.js';

export const peerFanOutTimeoutMsDefault = 2_000;

export type Peer = Readonly<{ id: string; baseUrl: string }>;
export type PeerFailure = Readonly<{ node: string; error: string }>;
export type FanOut<T> = { answers: { node: string; body: T }[]; partial: PeerFailure[] };

/** Every SIP node of the cluster file but `selfId`, by its admin address. */
export function peersOf(config: Pick<ClusterConfig, 'sip'>, selfId: string): Peer[] {
  return config.sip
    .filter((n) => n.id !== selfId)
    .map((n) => {
      // A node listening on every interface is reached on loopback from its own host.
      const host = n.admin.host === '0.0.0.0' || n.admin.host === '' ? '127.0.0.1' : n.admin.host.includes(':') ? `[${n.admin.host}]` : n.admin.host;
      return { id: n.id, baseUrl: `http://${host}:${n.admin.port}` };
    });
}

/** GETs `path` (which carries its own query, scope=node included) from every peer. */
export async function fanOut<T>(peers: readonly Peer[], path: string, token: string, timeoutMs = peerFanOutTimeoutMsDefault): Promise<FanOut<T>> {
  const out: FanOut<T> = { answers: [], partial: [] };
  await Promise.all(peers.map(async (p) => {
    const abort = new AbortController();
    const timer = setTimeout(() => abort.abort(), timeoutMs);
    try {
      const res = await fetch(`${p.baseUrl}${path}`, { headers: { authorization: `Bearer ${token}` }, signal: abort.signal });
      if (res.status !== 200) {
        await res.body?.cancel().catch(() => {});
        out.partial.push({ node: p.id, error: `HTTP ${res.status}` });
        return;
      }
      out.answers.push({ node: p.id, body: (await res.json()) as T });
    } catch (err) {
      out.partial.push({ node: p.id, error: abort.signal.aborted ? `no answer within ${timeoutMs} ms` : (err as Error).message });
    } finally {
      clearTimeout(timer);
    }
  }));
  out.partial.sort((a, b) => a.node.localeCompare(b.node));
  return out;
}
