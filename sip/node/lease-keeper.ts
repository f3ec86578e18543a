// The SIP node's lease on every shard (DESIGN.md, leases): one `renewLease {owner: node
// id, ttlMs}` per shard every ttlMs/3, no per-grant traffic. While the lease is renewed the
// node's grants (RESERVED and BUSY agents) stand; when the node dies or is cut off, the
// shard's leader frees them after the lease time, through their orphan hold.
//
// The node must give up its grants no later than the shard does, or a freed agent could be
// offered a second call while the first still runs here. The shard measures from when it
// applied a renewal; the node measures from when it SENT the last renewal that was
// acknowledged, which is earlier, so the node's view runs out first (clocks advancing at
// like rates). When it runs out the node calls `onLost(shardId)` and the B2BUA hangs up
// the calls whose agent is on that shard.
import assert from 'node:assert';
import type { Logger } from '../../common/logger.js';
import type { ShardClient } from '../../shards/client/shard-client.js';
import type { TimerService } from '../transport/index.js';
import { every } from './clock.js';

export type LeaseKeeperOptions = Readonly<{
  shards: Pick<ShardClient, 'shardIds' | 'commandOnShard'>;
  owner: string;
  ttlMs: number;
  timers: TimerService;
  log: Logger;
  /** The node's view of its lease on `shardId` ran out: its grants there are (or soon
   * will be) freed by the shard. */
  onLost: (shardId: string) => void;
}>;

type ShardLease = { inFlight: boolean; validUntilMs: number | null; lost: boolean };

export class LeaseKeeper {
  /** Resolves once every shard has acknowledged a first renewal, or once stopped. */
  readonly firstRenewed: Promise<void>;
  readonly #shards = new Map<string, ShardLease>();
  readonly #stop: () => void;
  #stopped = false;
  #resolveFirst!: () => void;

  constructor(private readonly o: LeaseKeeperOptions) {
    assert(o.owner !== '', 'a lease needs an owner');
    assert(o.ttlMs >= 3, 'a lease shorter than three renewals cannot be kept');
    this.firstRenewed = new Promise((resolve) => (this.#resolveFirst = resolve));
    for (const id of o.shards.shardIds) this.#shards.set(id, { inFlight: false, validUntilMs: null, lost: false });
    if (this.#shards.size === 0) this.#resolveFirst();
    this.#stop = every(o.timers, this.renewIntervalMs, () => this.#round());
    this.#round();
  }

  get renewIntervalMs(): number {
    return Math.floor(this.o.ttlMs / 3);
  }

  /** The node's own view: whether its lease on `shardId` still holds (monotonic time). */
  holds(shardId: string): boolean {
    const s = this.#shards.get(shardId);
    return s !== undefined && s.validUntilMs !== null && this.o.timers.now() < s.validUntilMs;
  }

  stop(): void {
    this.#stopped = true;
    this.#stop();
    this.#resolveFirst();
  }

  #round(): void {
    if (this.#stopped) return;
    const now = this.o.timers.now();
    for (const [shardId, s] of this.#shards) {
      if (s.validUntilMs !== null && !s.lost && now >= s.validUntilMs) {
        s.lost = true;
        this.o.log.error('lease on a shard ran out: ending the calls whose agents it holds', { shard: shardId, owner: this.o.owner });
        this.o.onLost(shardId);
      }
      if (!s.inFlight) void this.#renew(shardId, s);
    }
  }

  async #renew(shardId: string, s: ShardLease): Promise<void> {
    s.inFlight = true;
    const sentAtMs = this.o.timers.now();
    try {
      const r = await this.o.shards.commandOnShard(shardId, { type: 'renewLease', owner: this.o.owner, ttlMs: this.o.ttlMs }, { deadlineMs: this.renewIntervalMs });
      if (this.#stopped) return;
      if (r.ok && r.type === 'leaseRenewed') {
        if (s.lost) this.o.log.info('lease on a shard renewed again', { shard: shardId });
        s.validUntilMs = sentAtMs + this.o.ttlMs;
        s.lost = false;
        if ([...this.#shards.values()].every((x) => x.validUntilMs !== null)) this.#resolveFirst();
      } else {
        this.o.log.warn('lease renewal refused', { shard: shardId, result: r });
      }
    } catch (err) {
      if (!this.#stopped) this.o.log.warn('lease renewal failed', { shard: shardId, error: (err as Error).message });
    } finally {
      s.inFlight = false;
    }
  }
}
