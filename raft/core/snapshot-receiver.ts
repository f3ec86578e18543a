// Follower side of chunked InstallSnapshot: assembles the chunks of one snapshot in order.
// It answers every chunk with the byte offset it holds, so the leader resends from there
// after a lost chunk, and restarts from 0 when this node restarted (state lost) or the
// leader moved on to a newer snapshot (different meta).
import type { Snapshot, SnapshotChunk, SnapshotMeta } from '../types.js';
import { snapshotBytesMax } from '../limits.js';

export type ChunkOutcome =
  | { kind: 'partial'; offset: number }
  | { kind: 'complete'; snapshot: Snapshot }
  | { kind: 'reject' };

function sameMeta(a: SnapshotMeta, b: SnapshotMeta): boolean {
  return a.index === b.index && a.term === b.term;
}

export class SnapshotReceiver {
  private meta: SnapshotMeta | null = null;
  private totalBytes = 0;
  private chunks: Uint8Array[] = [];
  private offset = 0;

  /** Takes one chunk; returns how much of this snapshot is now held, or the whole of it. */
  receive(m: SnapshotChunk): ChunkOutcome {
    if (m.totalBytes > snapshotBytesMax || m.offset < 0 || m.offset + m.chunk.byteLength > m.totalBytes) {
      return { kind: 'reject' };
    }
    if (this.meta === null || !sameMeta(this.meta, m.meta) || this.totalBytes !== m.totalBytes) {
      // A snapshot we have no partial copy of: only its first chunk can start it.
      if (m.offset !== 0) return { kind: 'partial', offset: 0 };
      this.meta = m.meta;
      this.totalBytes = m.totalBytes;
      this.chunks = [];
      this.offset = 0;
    }
    if (m.offset === this.offset && (m.chunk.byteLength > 0 || this.offset === this.totalBytes)) {
      // Copy: the message buffer may be reused by the transport.
      this.chunks.push(m.chunk.slice());
      this.offset += m.chunk.byteLength;
    }
    if (this.offset < this.totalBytes) return { kind: 'partial', offset: this.offset };
    const data = new Uint8Array(this.totalBytes);
    let at = 0;
    for (const c of this.chunks) {
      data.set(c, at);
      at += c.byteLength;
    }
    const snapshot: Snapshot = { meta: this.meta, data };
    this.reset();
    return { kind: 'complete', snapshot };
  }

  reset(): void {
    this.meta = null;
    this.totalBytes = 0;
    this.chunks = [];
    this.offset = 0;
  }
}
