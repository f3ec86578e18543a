// "No acknowledged change lost", judged as a register (Jepsen style) on agents that one
// sequential writer each sends on numbered breaks (notReady with reason w<n>). The shard
// history checker can only judge a DN whose ops all completed definitely, and over a long
// run under kills nearly every contested DN sees an unknown outcome; a single writer per
// DN with a long deadline keeps these registers judgeable. Sound under unknown outcomes:
// the final reason must be the last acknowledged one, or one whose outcome was unknown (it
// may have taken effect at any later time). Anything else — an older acknowledged reason,
// or READY — means an acknowledged change was lost.
export type RegisterOp = Readonly<{ reason: string; outcome: 'ok' | 'fail' | 'info'; invokeMs: number; completeMs: number | null }>;

export type RegisterVerdict = Readonly<{ dn: string; writes: number; acknowledged: number; unknown: number; final: string; lost: string | null }>;

export function checkRegister(dn: string, ops: readonly RegisterOp[], finalReason: string): RegisterVerdict {
  const acked = ops.filter((o) => o.outcome === 'ok');
  const unknown = ops.filter((o) => o.outcome === 'info');
  const base = { dn, writes: ops.length, acknowledged: acked.length, unknown: unknown.length, final: finalReason };
  if (acked.length === 0) return { ...base, lost: null };
  const last = acked.reduce((a, b) => ((b.completeMs ?? 0) > (a.completeMs ?? 0) ? b : a));
  const allowed = new Set([last.reason, ...unknown.map((o) => o.reason)]);
  if (allowed.has(finalReason)) return { ...base, lost: null };
  return { ...base, lost: `DN ${dn}: last acknowledged write was ${last.reason} (acked at ${last.completeMs}), but the agent ends as ${finalReason}` };
}
