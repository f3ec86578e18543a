// What a leader knows about one follower's log (etcd's Progress): the highest index known
// to match (`match`), the next index to send (`next`), and a flow-control state:
//  - probe: one append at a time until the follower's position is found,
//  - replicate: optimistic pipelining, bounded by the Inflights window,
//  - snapshot: appends paused while a chunked snapshot is being delivered.
import assert from 'node:assert';
import { Inflights } from './inflights.js';

export type ProgressState = 'probe' | 'replicate' | 'snapshot';

export class Progress {
  match = 0;
  next: number;
  state: ProgressState = 'probe';
  /** In probe: an append is out and we wait for its answer (or a heartbeat reply). */
  probeSent = false;
  /** Heard from since the leader's last check-quorum round. */
  recentActive = false;
  /** Commit index last sent to this follower (by append, or by heartbeat under
   * RaftConfig.commitRidesAlong), so a commit advance triggers an append. */
  sentCommit = 0;
  /** Heartbeat rounds since an append went to this follower: 0 when one went since the
   * last round (RaftConfig.heartbeatsSkipBusy). */
  roundsSinceAppend = Number.POSITIVE_INFINITY;
  /** Leader ticks since the last append acknowledgement (stall detection in replicate). */
  ticksSinceAck = 0;
  /** In snapshot: index of the snapshot being sent, bytes the follower acknowledged. */
  pendingSnapshot = 0;
  snapshotOffset = 0;
  readonly inflights: Inflights;

  constructor(next: number, inflightAppendsMax: number) {
    this.next = next;
    this.inflights = new Inflights(inflightAppendsMax);
  }

  private resetState(state: ProgressState): void {
    this.state = state;
    this.probeSent = false;
    this.pendingSnapshot = 0;
    this.snapshotOffset = 0;
    this.ticksSinceAck = 0;
    this.inflights.reset();
  }

  becomeProbe(): void {
    // Leaving snapshot state, resume after whatever the snapshot covered.
    const after = this.state === 'snapshot' ? Math.max(this.match, this.pendingSnapshot) : this.match;
    this.resetState('probe');
    this.next = after + 1;
  }

  becomeReplicate(): void {
    this.resetState('replicate');
    this.next = this.match + 1;
  }

  becomeSnapshot(snapshotIndex: number): void {
    this.resetState('snapshot');
    this.pendingSnapshot = snapshotIndex;
  }

  /** A successful append response up to `index`: returns false when it brings nothing new. */
  maybeUpdate(index: number): boolean {
    let updated = false;
    if (this.match < index) {
      this.match = index;
      updated = true;
      this.probeSent = false;
    }
    this.next = Math.max(this.next, index + 1);
    return updated;
  }

  /** A rejected append at `rejected`; `hintNext` is where the follower's log may diverge.
   * Returns false when the rejection is stale (answers an older message). */
  maybeDecrTo(rejected: number, hintNext: number): boolean {
    if (this.state === 'replicate') {
      if (rejected <= this.match) return false;
      this.next = this.match + 1;
      return true;
    }
    if (this.next - 1 !== rejected) return false;
    this.next = Math.max(Math.min(rejected, hintNext + 1), this.match + 1, 1);
    this.probeSent = false;
    return true;
  }

  /** Bookkeeping after sending an append with `count` entries ending at `lastIndex`. */
  sentEntries(count: number, lastIndex: number, bytes: number): void {
    if (this.state === 'replicate') {
      if (count > 0) {
        this.next = lastIndex + 1;
        this.inflights.add(lastIndex, bytes);
      }
    } else {
      assert(this.state === 'probe', 'append sent to a follower in snapshot state');
      this.probeSent = true;
    }
  }

  /** Whether appends to this follower must wait. */
  paused(): boolean {
    if (this.state === 'probe') return this.probeSent;
    if (this.state === 'replicate') return this.inflights.full();
    return true;
  }
}
