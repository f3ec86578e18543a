// The run's verdict in the two shapes the issue asks for: the final JSON line (its keys
// and order are a contract: scripts grep it) and a few human lines before it.
import type { ChaosResult } from './engine.js';

export function finalLine(r: ChaosResult): string {
  // `inversions` (queue order, outside killed nodes' callers) came last, after the
  // original keys, so scripts matching the older prefix still match.
  // A run on hosts in network namespaces appends its hosts, shards and partitions.
  const hosts = r.hosts > 0 ? { hosts: r.hosts, shards: r.shards, partitions: r.partitions } : {};
  return JSON.stringify({ chaos: true, seed: r.seed, minutes: r.minutes, kills: r.kills, calls: r.calls, violations: r.violations, leaked: r.leaked, hung: r.hung, inversions: r.queue?.inversions ?? 0, ...hosts });
}

/** Whether the run failed: anything violated, leaked or hung, or served out of queue order. */
export function runFailed(r: ChaosResult): boolean {
  return r.violations + r.leaked + r.hung + (r.queue?.inversions ?? 0) > 0;
}

export function humanSummary(r: ChaosResult): string[] {
  const lines = [
    ...(r.hosts > 0 ? [`hosts: ${r.hosts} in network namespaces, ${r.shards} shards; partitions: ${r.partitions} (${Object.entries(r.partitionsByKind).map(([k, v]) => `${k} ${v}`).join(', ') || 'none'})`] : []),
    `kills: ${r.kills} (${Object.entries(r.killsByFault).map(([k, v]) => `${k} ${v}`).join(', ')}); ${r.skippedSteps} planned steps skipped, ${r.restartsFailed} restarts failed; ${r.leaderChanges} leader changes seen`,
    `shard load: ${r.shardLoad.grants} grants, ${r.shardLoad.confirms} confirmed, ${r.shardLoad.denials} denials, ${r.shardLoad.breaks} breaks, ${r.shardLoad.unknown} unknown outcomes`,
    `history: ${r.historyCounts.operations} operations (${r.historyCounts.ok} ok, ${r.historyCounts.fail} fail, ${r.historyCounts.info} info), ${r.historyCounts.grantsAcknowledged} acknowledged grants, ${r.historyCounts.exclusivityPairsCompared} overlapping pairs compared, ${r.historyCounts.finalStatesChecked} final states checked`,
    `registers (lost-change check): ${r.registers.map((g) => `${g.dn} ${g.acknowledged}/${g.writes} acked, ${g.unknown} unknown, final ${g.final}${g.lost ? ' LOST' : ''}`).join('; ')}`,
  ];
  if (r.goneNodes.length > 0 || r.evictions > 0 || r.leaseExpiries > 0) {
    lines.push(`liveness: ${r.goneNodes.length > 0 ? `${r.goneNodes.join(', ')} killed for good; ` : ''}${r.evictions} session-eviction bursts; ${r.leaseExpiries} agents freed by lease expiry${r.goneAgentsReadyS === null ? '' : `, all READY ${Number.isFinite(r.goneAgentsReadyS) ? `${r.goneAgentsReadyS.toFixed(1)} s` : 'never'} after the kill`} (lease ${r.leaseMs ?? 'node default'} ms + orphan hold ${r.orphanHoldMs} ms)`);
  }
  lines.push(`every agent READY ${r.allReadyAfterS === null ? 'NOT reached' : `${r.allReadyAfterS.toFixed(1)} s`} after the end of the load: ${r.allReadyWithinBound ? 'within' : 'NOT within'} lease + orphan hold`);
  if (r.sipIncluded && r.sip) {
    const rejected = Object.values(r.sip.finalFailures).reduce((a, b) => a + b, 0);
    lines.push(`calls: ${r.sip.created} placed: ${r.sip.answered} answered, ${rejected} rejected with a final response ${JSON.stringify(r.sip.finalFailures)}, ${r.sip.failed} failed without one (${r.sip.timeouts} timeouts, ${r.sip.unexpected} unexpected messages; a timeout through a SIP node never killed is a violation), ${r.sip.hung} hung`);
    lines.push(`  per caller: ${r.sip.callers.map((c) => `${c.node}: ${c.created} placed, ${c.successful} ok, ${c.failed} failed (${c.timeouts} timeouts, ${c.unexpected} unexpected), ${c.hung} hung`).join('; ')}`);
    if (r.phones) lines.push(`phones: ${r.phones.invites} INVITEs, ${r.phones.answered} answered, ${r.phones.doubleOffersFlagged} flagged double offers, ${r.phones.episodes.length} held calls offered again (${r.orphaned.length} orphaned by SIP-node kills)`);
    for (const o of r.orphaned.slice(0, 20)) lines.push(`  ${o}`);
    const causes = Object.entries(r.sipFailureCauses).filter(([k]) => k !== 'cdr completed').sort((x, y) => y[1] - x[1]);
    lines.push(`  why calls ended otherwise (SIP nodes' call records and warn lines): ${causes.length === 0 ? 'nothing' : causes.map(([k, v]) => `${k} ${v}`).join(', ')}`);
    if (r.queue) {
      const q = r.queue;
      lines.push(`queue: ${q.enqueued} enqueued, ${q.claims} claims (${q.unclaims} unclaimed again), left as ${q.answered} answered, ${q.abandoned} abandoned, ${q.timedOut} timed out, ${q.failed} failed, ${q.leaseExpired} lease-expired, ${q.ownerRestarted} owner-restarted; ${q.directServes} calls routed without queueing; agent breaks: ${q.pressure.breaks} phases, ${q.pressure.agentBreaks} agent breaks`);
      lines.push(`queue order: ${q.pairsCompared} (earlier entry, later claim) pairs judged, up to ${q.depthMax} queued at once; ${q.inversions} inversions outside killed nodes' callers (must be 0), ${q.inversionsKilledNode} involving a killed node's callers${q.inversionsPartitioned > 0 ? `, ${q.inversionsPartitioned} bypasses during partitions (a node's queue view frozen by the cut)` : ''}; ${q.feedGaps} feed gaps${q.feedGaps > 0 ? ' (counts are a lower bound)' : ''}; ${q.leftAtEnd.length} entries left at the end`);
      for (const e of q.examples.slice(0, 10)) lines.push(`  ${e}`);
    }
  } else {
    lines.push(`calls: 0 — the SIP layer is not in this run (${r.sipMissingWhy}); only shard-level load and shard/gateway kills`);
  }
  if ((r.queue?.inversions ?? 0) > 0) lines.push(`verdict: ${r.queue!.inversions} queue-order inversions (see above)`);
  lines.push(r.violationList.length === 0 ? 'verdict: no violations, nothing leaked, no call hung' : `verdict: ${r.violationList.length} findings:\n  ${r.violationList.slice(0, 50).join('\n  ')}`);
  return lines;
}
