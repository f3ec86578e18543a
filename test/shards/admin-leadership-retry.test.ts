// A membership request reaching a leader that is handing leadership over (a preferred-
// leader transfer, an operator's) waits for the transfer to end instead of answering 409
// halfway: the store-replace test's POST /members placed and added s2-d as a learner,
// then met a transfer and answered 409 with the member left a learner. whileLeadershipSettles
// (shards/node/admin-routes.ts) retries a step refused with RAFT_ERR_TRANSFER_IN_PROGRESS
// until its deadline; any other refusal is answered at once, with its own status; a
// promotion also waits for the learner to catch up.
import t from 'tap';
import { httpStatusByCode, AdminError } from '../../common/admin.js';
import { RaftGroupError } from '../../raft/errors.js';
import type { RaftErrorCode } from '../../raft/types.js';
import { whileLeadershipSettles } from '../../shards/node/admin-routes.js';

/** An op refused with `codes` in turn, then answering 'done'. */
function scripted(codes: RaftErrorCode[]): { op: () => Promise<string>; calls: () => number } {
  let calls = 0;
  return {
    op: async () => {
      const code = codes[calls++];
      if (code !== undefined) throw new RaftGroupError(code, `refused: ${code}`);
      return 'done';
    },
    calls: () => calls,
  };
}

t.test('a transfer in progress is waited out', async (t) => {
  const s = scripted(['RAFT_ERR_TRANSFER_IN_PROGRESS', 'RAFT_ERR_TRANSFER_IN_PROGRESS']);
  t.equal(await whileLeadershipSettles(s.op, 5000, { retryMs: 1 }), 'done');
  t.equal(s.calls(), 3, 'tried until the transfer ended');
});

t.test('a transfer that completed: not the leader any more, a 503 to retry at the new one', async (t) => {
  const s = scripted(['RAFT_ERR_TRANSFER_IN_PROGRESS', 'RAFT_ERR_NOT_LEADER']);
  const err = await whileLeadershipSettles(s.op, 5000, { retryMs: 1 }).catch((e: unknown) => e);
  t.ok(err instanceof AdminError && err.code === 'RAFT_ERR_NOT_LEADER', 'the refusal as an admin error');
  t.equal(httpStatusByCode[(err as AdminError).code], 503);
  t.equal(s.calls(), 2);
});

t.test('past the deadline the transfer is the answer (409), and other refusals come at once', async (t) => {
  const endless = scripted(Array<RaftErrorCode>(10_000).fill('RAFT_ERR_TRANSFER_IN_PROGRESS'));
  const late = await whileLeadershipSettles(endless.op, 30, { retryMs: 5 }).catch((e: unknown) => e);
  t.ok(late instanceof AdminError && late.code === 'RAFT_ERR_TRANSFER_IN_PROGRESS', 'the transfer, once the deadline passed');
  t.ok(endless.calls() > 1 && endless.calls() < 100, `retried, within the deadline (${endless.calls()} tries)`);
  const pending = scripted(['RAFT_ERR_CONF_CHANGE_PENDING']);
  const refused = await whileLeadershipSettles(pending.op, 5000, { retryMs: 1 }).catch((e: unknown) => e);
  t.ok(refused instanceof AdminError && refused.code === 'RAFT_ERR_CONF_CHANGE_PENDING', 'a pending change refuses an add or a removal at once');
  t.equal(pending.calls(), 1);
});

t.test('a promotion also waits for its learner to catch up', async (t) => {
  const s = scripted(['RAFT_ERR_CONF_CHANGE_PENDING', 'RAFT_ERR_TRANSFER_IN_PROGRESS', 'RAFT_ERR_CONF_CHANGE_PENDING']);
  t.equal(await whileLeadershipSettles(s.op, 5000, { untilCaughtUp: true, retryMs: 1 }), 'done');
  t.equal(s.calls(), 4);
});
