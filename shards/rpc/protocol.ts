// The shard client RPC: JSON payloads in length-prefixed frames (common/framing.ts) over
// TCP. Requests carry a connection-unique `id`; each gets exactly one response with that
// id, except `feed`, whose id receives a stream of pages until `unfeed` or disconnect.
// JSON keeps the protocol debuggable with a hex dump; the payloads are small.
import type { AgentFilter } from '../state-machine.js';
import type { ChangeRecord } from '../types.js';

export type Consistency = 'linearizable' | 'stale';

export type ShardQuery = Readonly<
  | { type: 'agent'; dn: string }
  | { type: 'agents'; filter: AgentFilter }
  | { type: 'reservations' }
  | { type: 'status' }
>;

export type RpcRequest = Readonly<
  /** `proposal` is the text of encodeProposal(): validated once here, proposed as is. */
  | { id: number; op: 'propose'; proposal: string; timeoutMs?: number }
  | { id: number; op: 'read'; query: ShardQuery; consistency: Consistency; timeoutMs?: number }
  | { id: number; op: 'feed'; fromIndex: number }
  | { id: number; op: 'unfeed'; feedId: number }
>;

/** `code` is a shards/errors.ts or Raft code, or a foreign code the node passed on as is;
 * the receiver re-types it with `carriedCode`. */
export type RpcErrorBody = Readonly<{ code: string; message: string; leaderHint: string | null }>;

export type FeedPage = Readonly<{
  changes: readonly ChangeRecord[];
  /** The feed could not resume from the asked index: re-read the agents, then follow on. */
  truncated: boolean;
  /** Applied index this page brings the subscriber up to. */
  index: number;
}>;

export type RpcResponse = Readonly<
  | { id: number; ok: true; result: unknown; index?: number }
  | { id: number; ok: true; feed: FeedPage }
  | { id: number; ok: false; error: RpcErrorBody }
>;
