// The terms of a group's stored log entries, kept in memory as runs (first index, term):
// terms change only at elections, so a log of any length is a handful of runs. It lets
// save() decide whether an installed snapshot keeps the stored suffix (the stored entry
// at the snapshot index has the snapshot's term) without reading the database — a read
// would not see entries still waiting in an unwritten batch, and would make save()
// asynchronous before it joins the batch, letting a later save of the group overtake it.

export class TermRuns {
  private starts: number[] = [];
  private terms: number[] = [];

  /** Term of the entry at `index`; the caller keeps `index` inside the stored log. */
  termAt(index: number): number | undefined {
    let lo = 0;
    let hi = this.starts.length - 1;
    let found = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (this.starts[mid]! <= index) {
        found = mid;
        lo = mid + 1;
      } else hi = mid - 1;
    }
    return found < 0 ? undefined : this.terms[found];
  }

  /** Entries from `index` on are gone or about to be overwritten. */
  truncateFrom(index: number): void {
    while (this.starts.length > 0 && this.starts[this.starts.length - 1]! >= index) {
      this.starts.pop();
      this.terms.pop();
    }
  }

  /** Entry `index` (one past the last stored) now has `term`. */
  append(index: number, term: number): void {
    if (this.terms.length > 0 && this.terms[this.terms.length - 1] === term) return;
    this.starts.push(index);
    this.terms.push(term);
  }

  /** Entries up to `index` were compacted away: runs that end at or before it go. */
  dropThrough(index: number): void {
    let n = 0;
    while (n + 1 < this.starts.length && this.starts[n + 1]! <= index + 1) n++;
    if (n > 0) {
      this.starts.splice(0, n);
      this.terms.splice(0, n);
    }
  }

  clear(): void {
    this.starts = [];
    this.terms = [];
  }
}
