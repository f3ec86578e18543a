// Which hard states a RaftGroup writes, and when. A change of term or vote must be durable
// before anything that depends on it leaves (the Ready's own save, synced). A change of the
// commit index alone need not be: a restart relearns the commit from the leader, and the
// log and the snapshot bound it. So a commit-only hard state is held back and written at a
// ticker firing, whatever else a Ready writes — a busy follower's commit moves with nearly
// every append, and with a hundred groups on a store one such put per group per Ready was
// 40% of the shared log's keys. A group still writing entries writes it at most every
// commitSaveFiringsMax firings; one that went quiet, at its next firing (a leader cannot
// quiesce with one unwritten, and close() should not be the first to write it).

import type { HardState, NodeId, Term } from '../types.js';
import { commitSaveFiringsMax } from './limits.js';

export class HardStateWrites {
  /** The newest commit-only hard state not yet written. */
  private held: HardState | null = null;
  #durableTerm: Term;
  private durableVote: NodeId | null;
  private firingsSinceWrite = 0;
  private entriesSinceFiring = false;

  constructor(
    boot: HardState,
    private readonly firingsMax: number = commitSaveFiringsMax,
  ) {
    this.#durableTerm = boot.term;
    this.durableVote = boot.vote;
  }

  /** The term last made durable; a leader sends early only within it. */
  get durableTerm(): Term {
    return this.#durableTerm;
  }

  /** Whether a commit-only hard state waits to be written. */
  get holding(): boolean {
    return this.held !== null;
  }

  /** What a Ready's save writes of its hard state `hs` (null: nothing); `entries` is how
   * many entries the save holds. A commit-only change is held back instead. */
  forSave(hs: HardState | null, entries: number): HardState | null {
    if (entries > 0) this.entriesSinceFiring = true;
    if (hs === null) return null;
    if (hs.term === this.#durableTerm && hs.vote === this.durableVote) {
      this.held = hs;
      return null;
    }
    this.held = null; // superseded: this one carries the newer commit too
    return hs;
  }

  /** The save of `hs` (from forSave) completed. */
  written(hs: HardState): void {
    this.#durableTerm = hs.term;
    this.durableVote = hs.vote;
  }

  /** At a ticker firing: the held hard state if it is to be written now. */
  atFiring(): HardState | null {
    this.firingsSinceWrite++;
    const due = !this.entriesSinceFiring || this.firingsSinceWrite >= this.firingsMax;
    this.entriesSinceFiring = false;
    if (!due) return null;
    this.firingsSinceWrite = 0;
    return this.take();
  }

  /** The held hard state, whatever the cadence (close()). */
  take(): HardState | null {
    const hs = this.held;
    this.held = null;
    return hs;
  }
}
