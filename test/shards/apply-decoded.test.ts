// A leader applies the proposals it made from their decoded form (ShardNode.propose keeps
// it by the bytes proposed), skipping a second decode. This proves the shortcut changes
// nothing: a replica fed the decoded proposals and one fed only the bytes return the same
// results entry by entry and end with the same snapshot bytes, over a call's commands,
// refusals and session retries included.
import t from 'tap';
import { decodeProposal, encodeProposal } from '../../shards/commands.js';
import { ShardStateMachine } from '../../shards/state-machine.js';
import type { Command, Proposal } from '../../shards/types.js';

t.test('apply(entry, decoded) is apply(entry)', async (t) => {
  const fromBytes = new ShardStateMachine();
  const fromDecoded = new ShardStateMachine();
  const session = (requestSeq: number): Proposal['session'] => ({ clientId: 'c1', requestSeq, ackedSeq: requestSeq - 1 });
  const steps: { session: Proposal['session']; command: Command }[] = [
    { session: null, command: { type: 'openSession' } },
    { session: null, command: { type: 'provision', dn: '4001', name: 'A', skills: { support: 50 }, wrapUpMs: 0, maxNoAnswer: 0, credentials: null } },
    { session: null, command: { type: 'login', dn: '4001' } },
    { session: null, command: { type: 'ready', dn: '4001' } },
    { session: session(1), command: { type: 'reserve', dn: '4001', reservationId: 'r1', callId: 'call-1', owner: 'sip1', ttlMs: 8000, orphanHoldMs: 0 } },
    { session: session(1), command: { type: 'reserve', dn: '4001', reservationId: 'r1', callId: 'call-1', owner: 'sip1', ttlMs: 8000, orphanHoldMs: 0 } },
    { session: session(2), command: { type: 'reserve', dn: '4001', reservationId: 'r2', callId: 'call-2', owner: 'sip1', ttlMs: 8000, orphanHoldMs: 0 } },
    { session: session(3), command: { type: 'confirm', dn: '4001', reservationId: 'r1' } },
    { session: session(4), command: { type: 'release', dn: '4001', reservationId: 'r1', outcome: 'completed' } },
    { session: session(5), command: { type: 'confirm', dn: '4001', reservationId: 'r1' } },
  ];
  let index = 0;
  for (const step of steps) {
    index++;
    const data = encodeProposal(step);
    const decoded = decodeProposal(data);
    if (!decoded.ok) throw new Error(decoded.reason);
    const entry = { term: 1, index, kind: 'normal' as const, timestampMs: 1_000_000 + index, data };
    const a = fromBytes.apply(entry);
    const b = fromDecoded.apply(entry, decoded.proposal);
    t.same(b, a, `entry ${index} ${step.command.type}`);
  }
  t.same(fromDecoded.snapshot(), fromBytes.snapshot(), 'same state');
});
