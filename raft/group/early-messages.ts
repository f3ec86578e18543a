// Which of a Ready's messages may leave before its entries are durable. A leader's
// replication messages do not depend on its own log being durable (Raft thesis §10.2.1):
// followers may hold entries the leader loses in a crash, as if it had crashed just after
// sending. So they leave before the fsync and the two disks work in parallel; the leader
// counts itself for commit only after advance(). Everything else (votes, acks) waits for
// the fsync. A term change in the Ready must be durable first.

import type { Message, Ready, Term } from '../types.js';

const noMessages: readonly Message[] = [];

const leavesEarly = (m: Message): boolean => m.type === 'append' || m.type === 'heartbeat' || m.type === 'snapshot';

/** `durableTerm`: the term the replica's storage holds (HardStateWrites.durableTerm). */
export function splitEarlyMessages(rd: Ready, durableTerm: Term): { early: readonly Message[]; late: readonly Message[] } {
  const all = rd.messages;
  if (rd.softState.role !== 'leader' || (rd.hardState !== null && rd.hardState.term !== durableTerm) || all.length === 0) return { early: noMessages, late: all };
  let early = 0;
  for (const m of all) if (leavesEarly(m)) early++;
  if (early === 0) return { early: noMessages, late: all };
  if (early === all.length) return { early: all, late: noMessages };
  return { early: all.filter(leavesEarly), late: all.filter((m) => !leavesEarly(m)) };
}
