// The proposals a group is waiting to see applied, by log index, each with the term it
// was proposed in: an entry of that term at that index is the proposal (resolved with the
// state machine's result); anything else means it lost the index (group.ts's header lists
// the outcomes a caller gets).

import { ioError } from '../io-error.js';
import type { RaftGroupError } from '../errors.js';
import type { LogIndex, NodeId, Term } from '../types.js';
import type { ProposeResult } from './group-options.js';
import { Waiter } from './waiter.js';

type Pending = { term: Term; waiter: Waiter<ProposeResult> };

export class ProposalWaiters {
  private readonly byIndex = new Map<LogIndex, Pending>();

  /** `leaderHint` names the leader as this replica knows it, for the errors' hint. */
  constructor(private readonly leaderHint: () => NodeId | null) {}

  get size(): number {
    return this.byIndex.size;
  }

  /** Waits for the proposal made at `index` in `term` to be applied, up to `timeoutMs`. */
  track(index: LogIndex, term: Term, timeoutMs: number): Promise<ProposeResult> {
    // An older proposal still waiting here lost its entry to a truncation; it may yet be
    // committed through another replica's log, so its outcome is unknown.
    this.byIndex.get(index)?.waiter.reject(ioError('RAFT_ERR_TIMEOUT', `outcome unknown: index ${index} was reused`, this.leaderHint()));
    const waiter: Waiter<ProposeResult> = new Waiter<ProposeResult>(
      timeoutMs,
      () => ioError('RAFT_ERR_TIMEOUT', `proposal at index ${index} not applied in time`, this.leaderHint()),
      () => {
        if (this.byIndex.get(index)?.waiter === waiter) this.byIndex.delete(index);
      },
    );
    this.byIndex.set(index, { term, waiter });
    return waiter.promise;
  }

  /** The entry at `index` of `term` was applied with `result`. */
  applied(index: LogIndex, term: Term, result: unknown): void {
    const p = this.byIndex.get(index);
    if (!p) return;
    if (p.term === term) p.waiter.resolve({ index, result });
    else {
      const msg = `proposal at index ${index} (term ${p.term}) lost to an entry of term ${term}; not applied`;
      p.waiter.reject(ioError('RAFT_ERR_NOT_LEADER', msg, this.leaderHint()));
    }
  }

  /** A snapshot up to `index` was installed: what it covers was never applied here. */
  coveredBySnapshot(index: LogIndex): void {
    for (const [i, p] of this.byIndex) {
      if (i > index) continue;
      p.waiter.reject(ioError('RAFT_ERR_TIMEOUT', `outcome unknown: index ${i} was covered by a snapshot`, this.leaderHint()));
    }
  }

  /** The leader stepped down in `term` knowing no successor: its own proposals of that
   * term may commit under the next leader or never (see RaftGroup.noteSoftState). */
  leadershipLostBlind(term: Term): void {
    for (const [index, p] of [...this.byIndex]) {
      if (p.term === term) p.waiter.reject(ioError('RAFT_ERR_TIMEOUT', `outcome unknown: leadership lost with index ${index} uncommitted and no new leader known (it may yet commit under the next one)`, null));
    }
  }

  rejectAll(error: () => RaftGroupError): void {
    for (const p of [...this.byIndex.values()]) p.waiter.reject(error());
  }
}
