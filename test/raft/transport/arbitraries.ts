// fast-check generators for every Raft message variant and entry (shared by codec and
// transport tests).
import fc from 'fast-check';
import type { ConfState, Entry, Message, SnapshotMeta } from '../../../raft/types.js';

const id = fc.string({ unit: 'grapheme', maxLength: 12 });
const nat = fc.oneof(fc.nat({ max: 1000 }), fc.maxSafeNat());
const bytes = fc.uint8Array({ maxLength: 64 }).map((b) => new Uint8Array(b));

export const entryArb: fc.Arbitrary<Entry> = fc.record({
  term: nat,
  index: nat,
  kind: fc.constantFrom('normal' as const, 'conf' as const, 'noop' as const),
  timestampMs: fc.oneof(fc.nat(), fc.double({ noNaN: true })),
  data: bytes,
});

const confArb: fc.Arbitrary<ConfState> = fc.record({ voters: fc.array(id, { maxLength: 5 }), learners: fc.array(id, { maxLength: 3 }) });
const metaArb: fc.Arbitrary<SnapshotMeta> = fc.record({ index: nat, term: nat, conf: confArb });
const env = { from: id, to: id, term: nat };

export const messageArb: fc.Arbitrary<Message> = fc.oneof(
  fc.record({ type: fc.constantFrom('preVote' as const, 'vote' as const), ...env, lastLogIndex: nat, lastLogTerm: nat, transfer: fc.boolean() }),
  fc.record({ type: fc.constantFrom('preVoteResp' as const, 'voteResp' as const), ...env, reject: fc.boolean() }),
  fc.record({ type: fc.constant('append' as const), ...env, prevIndex: nat, prevTerm: nat, entries: fc.array(entryArb, { maxLength: 6 }), commit: nat }),
  fc.record({ type: fc.constant('appendResp' as const), ...env, reject: fc.boolean(), index: nat, hintIndex: nat, hintTerm: nat }),
  fc.record({ type: fc.constant('heartbeat' as const), ...env, commit: nat, context: id }),
  fc.record({ type: fc.constant('heartbeat' as const), ...env, commit: nat, context: id, quiesce: fc.constant(true) }),
  fc.record({ type: fc.constant('heartbeatResp' as const), ...env, context: id }),
  fc.record({ type: fc.constant('snapshot' as const), ...env, meta: metaArb, totalBytes: nat, offset: nat, chunk: bytes, done: fc.boolean() }),
  fc.record({ type: fc.constant('snapshotResp' as const), ...env, index: nat, offset: nat, reject: fc.boolean(), done: fc.boolean() }),
  fc.record({ type: fc.constant('timeoutNow' as const), ...env }),
  fc.record({ type: fc.constant('readIndex' as const), ...env, context: id }),
  fc.record({ type: fc.constant('readIndexResp' as const), ...env, context: id, index: nat, reject: fc.boolean() }),
);

export const groupIdArb = id;
