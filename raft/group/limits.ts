// Defaults and maxima of the RaftGroup driver (STYLE.md §8).

/** Interval of core.tick(); with the core's defaults (10 ticks election timeout, 2 ticks
 * heartbeat) this gives 100–200 ms elections and 20 ms heartbeats. */
export const tickMsDefault = 10;

/** How long propose(), read() and membership calls wait for their outcome. */
export const requestTimeoutMsDefault = 5000;

/** Applied entries between two local snapshots (each one compacts the log). */
export const snapshotEveryEntriesDefault = 10_000;

/** Firings' worth of ticks made up at once when the tick timer fired late (see start()). */
export const tickCatchUpMax = 3;

/** Consecutive ticker firings (heartbeat intervals) a host's leader must find its group
 * idle before it quiesces the group: a short pause between proposals should not cost a
 * quiesce notice and a wake. */
export const quiesceIdleFiringsMin = 3;

/** Ticker firings a busy group's commit-only hard state may wait before it is written
 * (about 1 s at 30 ms firings; hard-state-writes.ts says why it waits). */
export const commitSaveFiringsMax = 32;

/** How often a host reshares its log budget among its groups (log-budget.ts). */
export const logBudgetSweepMsDefault = 1000;
