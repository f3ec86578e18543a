// Named maxima of the simulator, in one place (STYLE.md §8). Per-run op counts are kept
// small enough that the linearizability check is exact and fast.

import { livenessTimeoutMsDefault, pingIntervalMsDefault } from '../transport/limits.js';

/** Simulated milliseconds per base tick (each node's tick interval is this times its skew). */
export const tickMsBase = 10;
/** Default run length in base ticks (--steps). */
export const stepsDefault = 600;
export const stepsMax = 100_000;
/** Hard bound on processed events per run, so a livelocked run ends instead of hanging. */
export const eventsPerRunMax = 400_000;

/** Cluster shape. */
export const votersInitial = 3;
export const nodesLiveMax = 5;
export const keysCount = 3;
export const clientsCount = 5;

/** Client operations per run, summed over keys: small enough for an exact check. */
export const clientOpsPerRunMax = 150;
/** Failed ops included (they are cheap but not free to simulate). */
export const clientOpsIssuedMax = 450;
export const clientTimeoutMs = 400;

/** Linearizability search: cache entries per key before the check gives up (reported as
 * inconclusive, never as a pass). Sized so histories of clientOpsPerRunMax never reach it. */
export const linearizabilityCacheMax = 2_000_000;

/** Network: delivery delays and the count of messages allowed in flight. */
export const messageDelayMsMax = 80;
export const messagesInFlightMax = 20_000;

/** A node compacts its log once this many entries (plus jitter) were applied since the
 * last snapshot. */
export const compactEveryEntriesMin = 15;
export const compactEveryEntriesMax = 60;

/** Worker processes the CLI forks. */
export const workersDefault = 2;

/** A driver loop that keeps finding Ready after this many rounds is a core bug. */
export const readyRoundsMax = 1_000;

/** Membership: a learner is promoted once within this many entries of the leader's last
 * index; a node whose addition never got applied is given up after this many rounds. */
export const promoteLagEntriesMax = 5;
export const joinRoundsMax = 6;

/** Groups per simulated store: each seed draws its count in [1, groupsMax] unless --groups. */
export const groupsMax = 8;
/** Stores a run may create (membership changes place new replicas on new stores). */
export const storesMax = 6;
/** Clients of each group after the first (the first has clientsCount), and their share of
 * the per-run op budget: the other groups see light traffic, so they quiesce and wake. */
export const clientsPerColdGroup = 2;
export const clientOpsPerColdGroupMax = 40;
/** A cold group's clients think this many times longer between operations. */
export const coldThinkFactor = 6;

/** Store liveness: every store pings every other one this often; one not heard from for
 * livenessTimeoutMs is silent — the real store's defaults (raft/transport/limits.ts). */
export const livenessPingMs = pingIntervalMsDefault;
export const livenessTimeoutMs = livenessTimeoutMsDefault;

/** The end of a run, after the storm: every group must have a leader, commit a probe write
 * and have every live replica caught up within livenessBoundMs; then the store leading the
 * most groups is killed for good, and the same must hold again within failoverBoundMs. */
export const livenessBoundMs = 5_000;
export const failoverBoundMs = 3_000;
/** Message delays after the storm (no loss then either). */
export const calmDelayMsMax = 10;
/** How long the end waits for groups to quiesce before the kill, and the poll interval. */
export const quiesceWaitMsMax = 1_000;
export const livenessPollMs = 20;
