// One simulated store: a process hosting one replica of each of several groups, with one
// shared disk (one WAL, one fsync per batch), one ticker, one outbox that coalesces every
// group's messages to a peer store into one frame, and a view of which peer stores are
// live (heard from within livenessTimeoutMs). A crash takes every replica down at once.

import type { Message, NodeId } from '../types.js';
import { SharedDisk } from './disk.js';
import type { Prng } from './prng.js';
import type { SimNode } from './sim-node.js';

/** One group's message (a quiesce notice is a heartbeat flagged quiesce). */
export type FrameItem = Readonly<{ group: number; message: Message }>;

/** What crosses the network between two stores: every group's messages of one turn. A
 * frame with no items is a liveness ping; any frame proves its sender alive. */
export type Frame = Readonly<{ from: NodeId; to: NodeId; items: readonly FrameItem[] }>;

export class SimStore {
  readonly disk = new SharedDisk();
  /** group → this store's replica of it (removed replicas stay, marked removed). */
  readonly replicas = new Map<number, SimNode>();
  /** Groups this store ever hosted: a removed replica's id is never reused in its group. */
  readonly hostedEver = new Set<number>();
  /** Bumped at every crash and restart, so timers of a previous life do nothing. */
  incarnation = 0;
  up = false;
  /** Hosts no replica any more: down for good, out of liveness and partitions. */
  retired = false;
  bootMs = 0;
  turnScheduled = false;
  /** An fsync of the shared batch is running: the next batch waits for it. */
  syncing = false;
  readonly outbox = new Map<NodeId, FrameItem[]>();
  readonly lastHeardMs = new Map<NodeId, number>();
  readonly silent = new Set<NodeId>();

  constructor(
    readonly id: NodeId,
    readonly prng: Prng,
    readonly tickMs: number,
    /** This store's wall clock: simulated time × rate + offset. */
    readonly clockRate: number,
    readonly clockOffsetMs: number,
  ) {}

  queue(to: NodeId, item: FrameItem): void {
    const q = this.outbox.get(to);
    if (q === undefined) this.outbox.set(to, [item]);
    else q.push(item);
  }
}
