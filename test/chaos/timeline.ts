// What happened during a chaos run, in one clock (ms since the load started): each kill
// and restart the nemesis made, each session-eviction burst, steps it had to skip, and every leader change the watcher
// saw. Plain data, so the report and the HTML timeline are pure functions of it.
export type TimelineEvent = Readonly<
  | { kind: 'kill'; atMs: number; step: number; fault: string; target: string; role: string; shard: string | null; wasLeader: boolean; downMs: number }
  | { kind: 'restart'; atMs: number; target: string; role: string; tookMs: number }
  | { kind: 'restart-failed'; atMs: number; target: string; error: string }
  | { kind: 'skip'; atMs: number; step: number; fault: string; why: string }
  | { kind: 'leader'; atMs: number; shard: string; leader: string | null; term: number }
  | { kind: 'evict'; atMs: number; step: number; shard: string; opened: number; failed: number; tookMs: number }
  | { kind: 'partition'; atMs: number; step: number; fault: string; description: string; hosts: readonly string[]; downMs: number }
  | { kind: 'heal'; atMs: number; step: number; description: string }
>;

export class Timeline {
  readonly events: TimelineEvent[] = [];
  constructor(readonly startMs: number, readonly nowMs: () => number = Date.now) {}

  sinceStartMs(): number {
    return this.nowMs() - this.startMs;
  }

  add(event: TimelineEvent): void {
    this.events.push(event);
  }
}
