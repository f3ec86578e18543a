// Where a failover's time goes, read from the replicas' own structured logs: each shard
// replica logs `raft role` (role, leader, term) on every role or leader change, stamped
// with its wall clock. Given the kill time and the killed replica, this finds when the
// first survivor started campaigning (pre-vote or vote) and when one became leader.
// Pure: takes log text, returns offsets in ms from the kill.

export type FailoverPhases = Readonly<{
  /** Kill → first survivor turning pre-candidate or candidate (failure detection). */
  campaignMs: number | null;
  /** Kill → first survivor turning leader. */
  leaderMs: number | null;
  newLeader: string | null;
  term: number | null;
  /** Terms in which a survivor stood as candidate up to the winning one (more than 1 = a
   * split or lost vote cost an extra election timeout). */
  elections: number;
  /** Pre-vote rounds survivors started up to the winning one (more than `elections` = a
   * pre-vote was refused, e.g. by a survivor that had heard from the old leader lately). */
  preVotes: number;
}>;

type RoleLine = { t: string; msg: string; replica?: string; role?: string; term?: number };

export function failoverPhases(logText: string, killWallMs: number, killed: string): FailoverPhases {
  let campaignMs: number | null = null;
  let leaderMs: number | null = null;
  let newLeader: string | null = null;
  let term: number | null = null;
  const candidateTerms = new Set<number>();
  const preVoteStarts: number[] = [];
  for (const line of logText.split('\n')) {
    if (!line.includes('"raft role"')) continue;
    let ev: RoleLine;
    try {
      ev = JSON.parse(line.slice(line.indexOf('{'))) as RoleLine;
    } catch {
      continue; // a line torn by interleaved writes: diagnostics only
    }
    // The Raft group logs each change once, under its shard's logger (replica, term).
    if (ev.msg !== 'raft role' || !ev.replica || ev.replica === killed || typeof ev.term !== 'number') continue;
    const at = Date.parse(ev.t) - killWallMs;
    if (!(at >= 0)) continue;
    if (ev.role === 'preCandidate' || ev.role === 'candidate') {
      if (ev.role === 'candidate') candidateTerms.add(ev.term);
      else preVoteStarts.push(at);
      if (campaignMs === null || at < campaignMs) campaignMs = at;
    } else if (ev.role === 'leader' && (leaderMs === null || at < leaderMs)) {
      leaderMs = at;
      newLeader = ev.replica;
      term = ev.term;
    }
  }
  const elections = [...candidateTerms].filter((t) => term === null || t <= term).length;
  const preVotes = preVoteStarts.filter((at) => leaderMs === null || at <= leaderMs).length;
  return { campaignMs, leaderMs, newLeader, term, elections, preVotes };
}
