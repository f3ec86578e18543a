// Queue-order inversions in a chaos run, judged from what the cluster recorded: the queue
// shard's change feed (enqueue, claim, unclaim, removal records, in log-index order) and
// the reservations SIP nodes made on the agents' shards. Pure: events in, a verdict out.
//
// The rule the cluster promises (DESIGN.md, Queue): an agent that a waiting call of its
// service could take goes to the oldest such call. Two ways to break it are counted:
//
// - claim inversion: a `claimed` record gives agent D to entry E while an entry W of the
//   same service that arrived earlier (smaller enqueuedIndex) was still in the queue, held
//   no live claim at that instant, and could take D. Judged exactly as the shard's claim
//   does it, on the entries' own replicated times, so it is exact.
// - bypass: a SIP node reserved agent D for a call that never went through a claim (a
//   newcomer routed straight to an agent) while W waited unclaimed and could take D. The
//   reservation lives on another shard, so this is judged on the replicas' millisecond
//   clocks (one host, one wall clock) with a margin of `graceMs` on each side: W must have
//   waited, unclaimed, from graceMs before the grant to graceMs after it. A node's queue
//   view lags the feed by a few milliseconds, and a newcomer racing an entry inside that
//   lag is not an inversion anyone could avoid.
//
// Not inversions (the brief's list, each deliberate):
// - W passed over for D: W's `passed` holds D (D's phone was already offered W's call and
//   did not take it; a queued call never rings the same phone twice).
// - W cannot take D: D lacks W's skill at W's minLevel.
// - W held a live claim (another agent is being offered to it; if that offer fails, the
//   unclaim puts W back at its place and the next claim takes it first).
// - W belongs to a SIP node killed between W's enqueue and the inversion: that node's
//   callers lost their legs, W only waits for the node's lease to remove it, and claims of
//   it lapse unanswered. Counted apart, as `inversionsKilledNode`.
import type { QueueChangeRecord, QueueEntry } from '../../shards/types.js';

export type QueueOrderEvent = Readonly<
  /** A queue record of the feed, in index order (records sharing an index in feed order). */
  | { kind: 'queue'; record: QueueChangeRecord; seenAtMs: number }
  /** The follower missed records (a `truncated` page): what it knew of the queue may be
   * stale, so it forgets the entries until a later record shows them again. */
  | { kind: 'gap'; seenAtMs: number }
  /** A SIP node reserved `dn` for a call to `service` (grantedAtMs: the agent shard's clock). */
  | { kind: 'serve'; service: string; dn: string; owner: string; grantedAtMs: number; seenAtMs: number }
>;

export type QueueOrderOptions = Readonly<{
  /** The agent's skills, or null if unknown (then nothing is judged against it). */
  skillsOf: (dn: string) => Readonly<Record<string, number>> | null;
  /** Times (ms, the same clock as the replicas') each SIP node was SIGKILLed. */
  killsOf: (node: string) => readonly number[];
  /** The margin of the bypass check, each side of the grant. */
  graceMs: number;
  /** Partitions between hosts (from the cut to the heal, same clock): a SIP node's queue
   * feed that follows a replica on the far side of a cut hears nothing until the heal
   * (the client's feed notices a closed connection, not a silent one), so its view of the
   * queue is frozen meanwhile. A bypass granted during a partition or within graceMs of
   * its heal is counted apart (inversionsPartitioned). Claim inversions are always judged. */
  partitions?: readonly Readonly<{ fromMs: number; toMs: number }>[];
}>;

export type QueueInversion = Readonly<{
  kind: 'claim' | 'bypass';
  service: string;
  /** The earlier entry that kept waiting. */
  waiting: string;
  waitingOwner: string;
  /** The later entry served (a claim) or the node that routed a newcomer (a bypass). */
  served: string;
  dn: string;
  atMs: number;
  killedNode: boolean;
  /** A bypass granted while hosts were cut from each other (see QueueOrderOptions.partitions). */
  duringPartition: boolean;
}>;

export type QueueOrderReport = Readonly<{
  /** Distinct entries enqueued. */
  enqueued: number;
  /** Claim records (an agent given to an entry); the same entry may be claimed again after
   * an unclaim or a lapse. */
  claims: number;
  unclaims: number;
  /** Entries removed, by the reason on the removal record. */
  answered: number;
  abandoned: number;
  timedOut: number;
  failed: number;
  leaseExpired: number;
  ownerRestarted: number;
  /** Earlier entries of the service still queued at a claim, each judged (the check is
   * vacuous when this is 0: nobody ever waited behind anybody). */
  pairsCompared: number;
  /** Most entries of the service queued at once. */
  depthMax: number;
  /** Entries still in the queue when the follower stopped. */
  stillQueued: number;
  /** Reservations by SIP nodes that no claim explains (calls routed without queueing). */
  directServes: number;
  /** Pairs (earlier entry waiting, later served) outside killed nodes' callers: must be 0. */
  inversions: number;
  /** Of those, claim inversions (judged exactly on the queue shard's log); the rest are bypasses. */
  claimInversions: number;
  /** The same pairs where the waiting entry's node had been killed: not a fault. */
  inversionsKilledNode: number;
  /** Bypasses granted during a partition or just after its heal, by a node whose queue view
   * may have been frozen by the cut: counted apart, reported. */
  inversionsPartitioned: number;
  /** Truncated feed pages seen (each may hide inversions: the count is then a lower bound). */
  feedGaps: number;
  /** The first few inversions of either kind, for the report. */
  examples: readonly QueueInversion[];
}>;

const examplesMax = 20;

type Tracked = { entry: QueueEntry };

function canTake(entry: Pick<QueueEntry, 'skill' | 'minLevel'>, skills: Readonly<Record<string, number>> | null): boolean {
  return skills !== null && Object.hasOwn(skills, entry.skill) && skills[entry.skill]! >= entry.minLevel;
}

export function countQueueInversions(events: readonly QueueOrderEvent[], opts: QueueOrderOptions): QueueOrderReport {
  /** callId → the entry as last recorded, while it is in the queue. */
  const queued = new Map<string, Tracked>();
  /** Every claim seen, for matching reservations to the claims that explain them. */
  const claimsSeen: { owner: string; dn: string; fromMs: number; toMs: number }[] = [];
  /** Time windows during which an entry was waiting unclaimed, closed when it stopped. */
  const unclaimedSince = new Map<string, number>();
  const windows: { entry: QueueEntry; fromMs: number; toMs: number }[] = [];
  const enqueued = new Set<string>();
  const removed = { answered: 0, abandoned: 0, timedOut: 0, failed: 0, leaseExpired: 0, ownerRestarted: 0 };
  let claims = 0, unclaims = 0, feedGaps = 0, pairsCompared = 0, depthMax = 0;
  const inversions: QueueInversion[] = [];
  const serves: Extract<QueueOrderEvent, { kind: 'serve' }>[] = [];

  const killedBetween = (node: string, fromMs: number, toMs: number): boolean => opts.killsOf(node).some((k) => k >= fromMs && k <= toMs);
  const closeWindow = (callId: string, atMs: number): void => {
    const from = unclaimedSince.get(callId);
    const t = queued.get(callId);
    if (from !== undefined && t !== undefined) windows.push({ entry: t.entry, fromMs: from, toMs: atMs });
    unclaimedSince.delete(callId);
  };

  for (const ev of events) {
    if (ev.kind === 'serve') {
      serves.push(ev);
      continue;
    }
    if (ev.kind === 'gap') {
      feedGaps++;
      // What was waiting may have left unseen: never judge against a ghost.
      queued.clear();
      unclaimedSince.clear();
      continue;
    }
    const r = ev.record;
    if (r.entry === null) {
      // Removal: the record has no time; the follower's clock is an upper bound of it.
      closeWindow(r.callId, ev.seenAtMs);
      if (queued.delete(r.callId)) {
        if (r.reason === 'answered') removed.answered++;
        else if (r.reason === 'abandoned') removed.abandoned++;
        else if (r.reason === 'timed-out') removed.timedOut++;
        else if (r.reason === 'failed') removed.failed++;
        else if (r.reason === 'lease-expired') removed.leaseExpired++;
        else if (r.reason === 'owner-restarted') removed.ownerRestarted++;
      }
      continue;
    }
    const entry = r.entry;
    if (r.reason === 'enqueued') {
      enqueued.add(entry.callId);
      queued.set(entry.callId, { entry });
      depthMax = Math.max(depthMax, queued.size);
      unclaimedSince.set(entry.callId, entry.enqueuedAtMs);
      continue;
    }
    if (r.reason === 'claimed' && entry.claim !== null) {
      claims++;
      const claim = entry.claim;
      const nowMs = claim.claimedAtMs;
      claimsSeen.push({ owner: entry.owner, dn: claim.dn, fromMs: claim.claimedAtMs, toMs: claim.expiresAtMs });
      const skills = opts.skillsOf(claim.dn);
      for (const { entry: w } of queued.values()) {
        if (w.service !== entry.service || w.callId === entry.callId || w.enqueuedIndex >= entry.enqueuedIndex) continue;
        pairsCompared++;
        if (w.claim !== null && w.claim.expiresAtMs > nowMs) continue;
        if (!canTake(w, skills) || w.passed.includes(claim.dn)) continue;
        inversions.push({ kind: 'claim', service: entry.service, waiting: w.callId, waitingOwner: w.owner, served: entry.callId, dn: claim.dn, atMs: nowMs, killedNode: killedBetween(w.owner, w.enqueuedAtMs, nowMs), duringPartition: false });
      }
      closeWindow(entry.callId, nowMs);
      queued.set(entry.callId, { entry });
      // Unclaimed again once the claim lapses, unless a later record says otherwise.
      unclaimedSince.set(entry.callId, claim.expiresAtMs);
      continue;
    }
    if (r.reason === 'unclaimed') unclaims++;
    // An unclaim, or a record that shows an entry the follower lost track of (after a gap).
    const before = queued.get(entry.callId);
    queued.set(entry.callId, { entry });
    if (before === undefined || before.entry.claim !== null) unclaimedSince.set(entry.callId, Math.min(ev.seenAtMs, unclaimedSince.get(entry.callId) ?? Infinity));
  }
  // Entries still queued at the end waited unclaimed until then.
  const endMs = events.reduce((m, e) => Math.max(m, e.seenAtMs), 0);
  for (const callId of [...unclaimedSince.keys()]) closeWindow(callId, Math.max(endMs, unclaimedSince.get(callId)!));

  let directServes = 0;
  for (const s of serves) {
    const explained = claimsSeen.some((c) => c.owner === s.owner && c.dn === s.dn && s.grantedAtMs >= c.fromMs - opts.graceMs && s.grantedAtMs <= c.toMs + opts.graceMs);
    if (explained) continue;
    directServes++;
    const skills = opts.skillsOf(s.dn);
    const seen = new Set<string>();
    for (const w of windows) {
      if (seen.has(w.entry.callId) || w.entry.service !== s.service) continue;
      if (!(w.fromMs <= s.grantedAtMs - opts.graceMs && w.toMs >= s.grantedAtMs + opts.graceMs)) continue;
      if (!canTake(w.entry, skills) || w.entry.passed.includes(s.dn)) continue;
      seen.add(w.entry.callId);
      const duringPartition = (opts.partitions ?? []).some((p) => s.grantedAtMs >= p.fromMs && s.grantedAtMs <= p.toMs + opts.graceMs);
      inversions.push({ kind: 'bypass', service: s.service, waiting: w.entry.callId, waitingOwner: w.entry.owner, served: `a call routed by ${s.owner} without queueing`, dn: s.dn, atMs: s.grantedAtMs, killedNode: killedBetween(w.entry.owner, w.entry.enqueuedAtMs, s.grantedAtMs), duringPartition });
    }
  }
  const outside = inversions.filter((i) => !i.killedNode && !i.duringPartition);
  const partitioned = inversions.filter((i) => !i.killedNode && i.duringPartition);
  return {
    enqueued: enqueued.size,
    claims,
    unclaims,
    ...removed,
    pairsCompared,
    depthMax,
    stillQueued: queued.size,
    directServes,
    inversions: outside.length,
    claimInversions: outside.filter((i) => i.kind === 'claim').length,
    inversionsKilledNode: inversions.length - outside.length - partitioned.length,
    inversionsPartitioned: partitioned.length,
    feedGaps,
    examples: [...outside, ...partitioned, ...inversions.filter((i) => i.killedNode)].slice(0, examplesMax),
  };
}

/** The deepest the service's queue was in each second since `startMs` (on the follower's
 * clock; the queue's records all come from one feed, so in time order), for the chart. */
export function queueDepthPerSecond(events: readonly QueueOrderEvent[], startMs: number, seconds: number): number[] {
  const depth = new Array<number>(Math.max(0, seconds)).fill(0);
  const queued = new Set<string>();
  let second = 0;
  for (const ev of events) {
    if (ev.kind === 'serve') continue;
    const at = Math.floor((ev.seenAtMs - startMs) / 1000);
    // Each second starts with the depth the last record left (quiet seconds keep it).
    for (; second < Math.min(at + 1, depth.length); second++) depth[second] = Math.max(depth[second]!, queued.size);
    if (ev.kind === 'gap') queued.clear();
    else if (ev.record.entry === null) queued.delete(ev.record.callId);
    else queued.add(ev.record.callId);
    if (at >= 0 && at < depth.length) depth[at] = Math.max(depth[at]!, queued.size);
  }
  for (; second < depth.length; second++) depth[second] = Math.max(depth[second]!, queued.size);
  return depth;
}
