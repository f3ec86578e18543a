// The fault profile of one run, drawn from its seed: how lossy and slow the network is,
// how often nodes crash or get partitioned away, how skewed their tick rates and clocks
// are. Profiles vary widely between seeds on purpose, so a batch of seeds covers calm
// runs (where leaders commit a lot) and stormy ones (where logs diverge).

import type { ClientProfile } from './clients.js';
import type { NetworkProfile } from './network.js';
import type { Prng } from './prng.js';
import { messageDelayMsMax } from './limits.js';

/** Core settings varied per seed: small append batches and windows make followers ack
 * a leader's log piece by piece, which is when old-term entries can be counted. */
export type CoreTuning = Readonly<{
  electionTimeoutTicks: number;
  heartbeatTicks: number;
  appendEntriesMax: number;
  inflightAppendsMax: number;
  /** The store driver's settings (RaftHost turns both on), drawn per seed so the batch
   * covers the core with and without them. */
  heartbeatsSkipBusy: boolean;
  commitRidesAlong: boolean;
}>;

export type FaultProfile = Readonly<{
  network: NetworkProfile;
  core: CoreTuning;
  /** Each node's tick interval is tickMsBase × a skew in [1 / (1 + x), 1 + x]. */
  tickSkewMax: number;
  clockOffsetMsMax: number;
  /** Mean time between crash events, null for none. */
  crashEveryMs: number | null;
  restartDelayMsMin: number;
  restartDelayMsMax: number;
  /** Chance, per Ready, to crash before persisting it or between persisting and sending. */
  crashMidReadyP: number;
  /** Chance to crash right after sending a Ready that granted a vote. */
  crashAfterAckP: number;
  /** Chance to crash a leader right after it was elected or advanced its commit index,
   * before it sends anything. */
  crashPivotalLeaderP: number;
  /** Chance, per tick, that the OS writes a store's page cache back (unsynced → durable). */
  flushPerTickP: number;
  /** An fsync of a store's shared batch takes 0.05 ms plus up to this. */
  fsyncMsMax: number;
  partitionEveryMs: number | null;
  partitionMsMin: number;
  partitionMsMax: number;
  membershipEveryMs: number | null;
  transferEveryMs: number | null;
  clients: ClientProfile;
}>;

function maybe(prng: Prng, p: number, lo: number, hi: number): number | null {
  return prng.chance(p) ? prng.range(lo, hi) : null;
}

export function drawProfile(prng: Prng): FaultProfile {
  const calm = prng.chance(0.15);
  const delayMsMax = prng.range(2, calm ? 10 : messageDelayMsMax);
  const drawn = {
    network: {
      lossP: calm ? 0 : prng.pick([0, 0.01, 0.05, 0.1, 0.2]),
      duplicateP: prng.pick([0, 0, 0.02, 0.1]),
      delayMsMin: prng.range(0, Math.min(5, delayMsMax)),
      delayMsMax,
      slowP: prng.pick([0, 0.01, 0.05]),
    },
    core: {
      electionTimeoutTicks: prng.pick([6, 10, 15]),
      heartbeatTicks: prng.pick([1, 2, 3]),
      appendEntriesMax: prng.pick([1, 1, 2, 64]),
      inflightAppendsMax: prng.pick([1, 4, 64]),
    },
    tickSkewMax: prng.pick([0, 0.1, 0.3, 0.6]),
    clockOffsetMsMax: prng.pick([0, 50, 5_000]),
    crashEveryMs: calm ? null : maybe(prng, 0.7, 300, 3_000),
    restartDelayMsMin: 0,
    restartDelayMsMax: prng.pick([20, 200, 800]),
    crashMidReadyP: calm ? 0 : prng.pick([0, 0, 0.0005, 0.002]),
    crashAfterAckP: calm ? 0 : prng.pick([0, 0.05, 0.2]),
    crashPivotalLeaderP: calm ? 0 : prng.pick([0, 0.1, 0.3, 0.5]),
    flushPerTickP: prng.pick([0.01, 0.1, 0.5]),
    partitionEveryMs: calm ? null : maybe(prng, 0.7, 300, 3_000),
    partitionMsMin: 50,
    partitionMsMax: prng.pick([300, 1_000, 2_500]),
    membershipEveryMs: maybe(prng, 0.5, 80, 400),
    transferEveryMs: maybe(prng, 0.3, 200, 1_500),
    clients: {
      readP: prng.pick([0.3, 0.5, 0.7]),
      casP: prng.pick([0.1, 0.3]),
      thinkMsMax: prng.pick([5, 30, 100]),
      stickyP: prng.pick([0.7, 0.95]),
    },
    // Drawn last, so adding it moved no other draw of a seed's profile.
    fsyncMsMax: prng.pick([0.2, 1, 4]),
  };
  // After every other draw, for the same reason.
  const storeDriver = prng.chance(0.5);
  return { ...drawn, core: { ...drawn.core, heartbeatsSkipBusy: storeDriver, commitRidesAlong: storeDriver && prng.chance(0.8) } };
}
