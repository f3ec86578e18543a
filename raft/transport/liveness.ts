// Store liveness (CockroachDB's node liveness, reduced to what a quiesced Raft group
// needs): each transport hears from every peer store at least every pingIntervalMs —
// any frame counts, an explicit ping goes out only when nothing else did — and calls a
// peer silent once it said nothing for livenessTimeoutMs. A quiesced group has no
// heartbeats of its own, so this is what wakes it when its leader's store dies.
//
// Liveness changes are edges: `alive` once when a silent (or never heard) peer is heard,
// `silent` once when a peer that was alive stays quiet too long.

import type { NodeId } from '../types.js';

export type LivenessListener = (peer: NodeId, alive: boolean) => void;

export type PeerLivenessOptions = {
  pingIntervalMs: number;
  livenessTimeoutMs: number;
  /** Sends one ping frame to `peer` (the caller's link decides how). */
  ping: (peer: NodeId) => void;
  nowMs?: () => number;
};

type PeerState = { lastHeardMs: number | null; lastSentMs: number; alive: boolean };

export class PeerLiveness {
  private readonly peers = new Map<NodeId, PeerState>();
  private readonly listeners: LivenessListener[] = [];
  private readonly nowMs: () => number;
  private timer: NodeJS.Timeout | null = null;
  pingsSent = 0;

  constructor(private readonly opts: PeerLivenessOptions) {
    if (!(opts.pingIntervalMs > 0) || !(opts.livenessTimeoutMs > opts.pingIntervalMs)) {
      throw new Error(`liveness: livenessTimeoutMs (${opts.livenessTimeoutMs}) must exceed pingIntervalMs (${opts.pingIntervalMs}) > 0`);
    }
    this.nowMs = opts.nowMs ?? (() => performance.now());
  }

  /** Starts watching `peer` (idempotent); it counts as not alive until first heard. */
  watch(peer: NodeId): void {
    if (this.peers.has(peer)) return;
    this.peers.set(peer, { lastHeardMs: null, lastSentMs: -Infinity, alive: false });
    this.ensureTimer();
  }

  onChange(cb: LivenessListener): void {
    this.listeners.push(cb);
  }

  /** A frame (any frame) arrived from `peer`. */
  heard(peer: NodeId): void {
    const p = this.peers.get(peer);
    if (p === undefined) return; // not a peer we watch (e.g. a store not configured here)
    p.lastHeardMs = this.nowMs();
    if (p.alive) return;
    p.alive = true;
    for (const cb of this.listeners) cb(peer, true);
  }

  /** A frame went out to `peer`: no ping needed for another interval. */
  sent(peer: NodeId): void {
    const p = this.peers.get(peer);
    if (p !== undefined) p.lastSentMs = this.nowMs();
  }

  /** Milliseconds since `peer` was last heard; Infinity when never. */
  silentMs(peer: NodeId): number {
    const p = this.peers.get(peer);
    if (p === undefined || p.lastHeardMs === null) return Infinity;
    return this.nowMs() - p.lastHeardMs;
  }

  alive(): Record<NodeId, boolean> {
    const out: Record<NodeId, boolean> = {};
    for (const [id, p] of this.peers) out[id] = p.alive;
    return out;
  }

  close(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
  }

  private ensureTimer(): void {
    if (this.timer !== null) return;
    // Checked at half the ping interval so a ping is never more than half an interval late
    // and silence is detected within livenessTimeoutMs + pingIntervalMs / 2.
    // The check runs in setImmediate, after this turn's poll phase: libuv runs timers
    // before it reads sockets, so a process waking from a stall would otherwise judge its
    // peers before reading the frames they sent during the stall, and call them silent.
    this.timer = setInterval(() => setImmediate(() => this.check()), this.opts.pingIntervalMs / 2);
    this.timer.unref();
  }

  private check(): void {
    if (this.timer === null) return; // closed while the check was queued
    const now = this.nowMs();
    for (const [id, p] of this.peers) {
      if (now - p.lastSentMs >= this.opts.pingIntervalMs) {
        p.lastSentMs = now;
        this.pingsSent++;
        this.opts.ping(id);
      }
      if (p.alive && p.lastHeardMs !== null && now - p.lastHeardMs > this.opts.livenessTimeoutMs) {
        p.alive = false;
        for (const cb of this.listeners) cb(id, false);
      }
    }
  }
}
