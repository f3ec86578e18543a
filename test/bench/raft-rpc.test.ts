// Proves the bench replica's client RPC codec round-trips requests and both kinds of
// response (committed index; error code with and without a leader hint) byte-exactly
// through real length-prefixed frames, and rejects frames of the wrong type or length.
import t from 'tap';
import { encodeFrames, FrameDecoder } from '../../common/framing.js';
import { decodeRequest, decodeResponse, encodeRequest, encodeResponse, RPC_FRAME_BYTES_MAX } from '../../bench/raft-rpc.js';

t.test('requests and responses survive framing, split at every byte', async (t) => {
  const payload = Buffer.alloc(64, 7);
  const frames = [
    encodeRequest({ id: 4_000_000_000, payload }),
    encodeResponse({ id: 1, ok: true, index: 2 ** 40 + 3 }),
    encodeResponse({ id: 2, ok: false, code: 'RAFT_ERR_NOT_LEADER', leaderHint: 'n2' }),
    encodeResponse({ id: 3, ok: false, code: 'RAFT_ERR_OVERLOADED', leaderHint: null }),
  ];
  const stream = encodeFrames(frames);
  const decoder = new FrameDecoder(RPC_FRAME_BYTES_MAX);
  const got: Buffer[] = [];
  for (let i = 0; i < stream.length; i++) got.push(...decoder.push(stream.subarray(i, i + 1)));
  t.equal(got.length, 4);
  const req = decodeRequest(got[0]!);
  t.equal(req.id, 4_000_000_000);
  t.same(Buffer.from(req.payload), payload);
  t.same(decodeResponse(got[1]!), { id: 1, ok: true, index: 2 ** 40 + 3 });
  t.same(decodeResponse(got[2]!), { id: 2, ok: false, code: 'RAFT_ERR_NOT_LEADER', leaderHint: 'n2' });
  t.same(decodeResponse(got[3]!), { id: 3, ok: false, code: 'RAFT_ERR_OVERLOADED', leaderHint: null });
});

t.test('malformed frames are rejected', async (t) => {
  const ok = encodeResponse({ id: 1, ok: true, index: 5 });
  t.throws(() => decodeRequest(ok), { code: 'RPC_ERR_BAD_REQUEST' }, 'a response is not a request');
  t.throws(() => decodeResponse(encodeRequest({ id: 1, payload: Buffer.alloc(3) })), { code: 'RPC_ERR_BAD_REQUEST' });
  t.throws(() => decodeResponse(ok.subarray(0, 10)), { code: 'RPC_ERR_BAD_REQUEST' }, 'truncated ok response');
  const err = encodeResponse({ id: 2, ok: false, code: 'RAFT_ERR_TIMEOUT', leaderHint: 'n1' });
  t.throws(() => decodeResponse(err.subarray(0, err.length - 1)), { code: 'RPC_ERR_BAD_REQUEST' }, 'truncated hint');
  t.throws(() => decodeRequest(Buffer.from([1, 0, 0])), { code: 'RPC_ERR_BAD_REQUEST' }, 'short request');
});
