// Fuzzes a real replica's shard RPC listener (startShardReplica, in-process: Raft over
// LevelDB, RPC over TCP) with fuzzFramesPerListener() hostile frames (10,000 in npm test,
// 1,000,000 in npm run fuzz), half of them before authentication and half from
// authenticated clients:
// - pre-auth: noise and mutations of a hello, a proof and requests, framed or as raw
//   bytes, each on its own connection, some behind a valid hello (to reach the proof
//   check); no request is ever answered and every connection is closed;
// - post-auth: noise, mutations of valid requests (proposals of every command type, reads
//   of every query, feeds) and hand-picked nasties (`null`, numbers, arrays, wrong field
//   types, unknown ops, garbage queries, JSON nested 60,000 deep), from a SIP node, the
//   launcher and a replica's own client, with a liveness probe after every batch.
// Afterwards a valid authenticated read is answered, no connection is left mid-handshake,
// and nothing threw: no uncaught exception, no rejection, no internal-error log line.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import net from 'node:net';
import fc from 'fast-check';
import t from 'tap';
import { writeLocalClusterConfig } from '../../cluster/local-cluster.js';
import { encodeFrame } from '../../common/framing.js';
import type { Logger } from '../../common/logger.js';
import { ShardClient } from '../../shards/client/shard-client.js';
import { encodeProposal } from '../../shards/commands.js';
import { startShardReplica } from '../../shards/node/replica.js';
import { encodeRpcHello, encodeRpcProof, newRpcNonce } from '../../shards/rpc/auth.js';
import type { Command } from '../../shards/types.js';
import { fuzzFramesPerListener, hostileBytes } from '../support/fuzz.js';
import { handshake, rawRpc, responses, type RawRpc } from './rpc-raw.js';

const thrown: string[] = [];
const onUncaught = (err: unknown): void => {
  thrown.push(`uncaught: ${(err as Error).stack ?? String(err)}`);
};
const onRejection = (err: unknown): void => {
  thrown.push(`unhandled rejection: ${(err as Error).stack ?? String(err)}`);
};
process.on('uncaughtException', onUncaught);
process.on('unhandledRejection', onRejection);

const errors: string[] = [];
const log: Logger = {
  debug: () => {},
  info: () => {},
  warn: () => {},
  error: (msg, fields) => errors.push(`${msg} ${JSON.stringify(fields ?? {})}`),
  child: () => log,
};

const dir = mkdtempSync(join(tmpdir(), 'ringfence-rpc-fuzz-'));
const { config } = await writeLocalClusterConfig({ dir, shards: 1, replicasPerShard: 1 });
const shard = config.shards[0]!;
const replicaConfig = shard.replicas[0]!;
const replica = await startShardReplica({ config, shard, replica: replicaConfig, log, listenAdmin: false });
const port = replica.rpc.port;
t.teardown(async () => {
  process.off('uncaughtException', onUncaught);
  process.off('unhandledRejection', onRejection);
  await replica.close();
  rmSync(dir, { recursive: true, force: true });
});

const total = fuzzFramesPerListener();
const preAuthFrames = Math.ceil(total / 2);
const postAuthFrames = total - preAuthFrames;
const chunk = 1000;
const baseSeed = fc.readConfigureGlobal().seed ?? 20261126;

/** `count` samples of `arb`, drawn chunk by chunk (a million at once would not fit). */
async function forEachSample<T>(arb: fc.Arbitrary<T>, count: number, seedOffset: number, each: (batch: T[]) => Promise<void>): Promise<void> {
  for (let done = 0, i = 0; done < count; done += chunk, i++) {
    await each(fc.sample(arb, { numRuns: Math.min(chunk, count - done), seed: baseSeed + seedOffset + i }));
  }
}

const text = (v: unknown): Uint8Array => Buffer.from(JSON.stringify(v));
const proposal = (command: Command, session: [string, number, number] | null = null): string =>
  Buffer.from(encodeProposal({ session: session === null ? null : { clientId: session[0], requestSeq: session[1], ackedSeq: session[2] }, command })).toString('utf8');

const commands: Command[] = [
  { type: 'openSession' },
  { type: 'provision', dn: '7001', name: 'Fuzz', skills: { support: 10 }, wrapUpMs: 0, maxNoAnswer: 0, credentials: null },
  { type: 'deprovision', dn: '7001' },
  { type: 'login', dn: '7001' },
  { type: 'ready', dn: '7001' },
  { type: 'notReady', dn: '7001', reason: 'fuzz' },
  { type: 'logout', dn: '7001' },
  { type: 'register', dn: '7001', uri: 'sip:7001@127.0.0.1:5099', expiresMs: 60_000, q: 1, callId: 'c', cseq: 1 },
  { type: 'unregister', dn: '7001', uri: null },
  { type: 'reserve', dn: '7001', reservationId: 'r1', callId: 'c1', owner: 'fuzz', ttlMs: 1000 },
  { type: 'confirm', dn: '7001', reservationId: 'r1' },
  { type: 'release', dn: '7001', reservationId: 'r1', outcome: 'completed' },
  { type: 'expire', dn: '7001', reservationId: 'r1' },
  { type: 'releaseByOwner', owner: 'fuzz' },
  { type: 'tick' },
];
const validRequests: Uint8Array[] = [
  ...commands.map((c, i) => text({ id: i + 1, op: 'propose', proposal: proposal(c, c.type === 'openSession' || c.type === 'tick' || c.type === 'expire' ? null : ['fuzz-client', 1, 0]), timeoutMs: 500 })),
  text({ id: 20, op: 'read', query: { type: 'agent', dn: '7001' }, consistency: 'stale' }),
  text({ id: 21, op: 'read', query: { type: 'agents', filter: { state: 'READY', skill: 'support', skillLevelMin: 5 } }, consistency: 'linearizable', timeoutMs: 500 }),
  text({ id: 22, op: 'read', query: { type: 'reservations' }, consistency: 'stale' }),
  text({ id: 23, op: 'read', query: { type: 'status' }, consistency: 'stale' }),
  text({ id: 24, op: 'feed', fromIndex: 0 }),
  text({ id: 25, op: 'unfeed', feedId: 24 }),
  // The same with the shard named, as every shard client request is (mutations reach it).
  text({ id: 26, op: 'read', shard: shard.id, query: { type: 'agent', dn: '7001' }, consistency: 'stale' }),
  text({ id: 27, op: 'propose', shard: shard.id, proposal: proposal({ type: 'ready', dn: '7001' }, ['fuzz-client', 2, 1]), timeoutMs: 500 }),
  text({ id: 28, op: 'feed', shard: shard.id, fromIndex: 0 }),
  // The keepalive probe: only {id, op}; its mutations (extra fields, odd ids) are refused.
  text({ id: 29, op: 'ping' }),
];
const nasties: Uint8Array[] = [
  'null', '0', '-1', '1e400', 'true', '"x"', '[]', '[null]', '{}', '{"id":null}', '{"id":"1","op":"read"}', '{"id":1}', '{"id":1,"op":null}',
  '{"id":1,"op":{"a":1}}', '{"id":1,"op":"ping","shard":null}', '{"id":1.5,"op":"ping"}', '{"id":1,"op":["propose"]}', '{"id":1,"op":"propose"}', '{"id":1,"op":"propose","proposal":null}', '{"id":1,"op":"propose","proposal":{}}',
  '{"id":1,"op":"propose","proposal":"null"}', '{"id":1,"op":"propose","proposal":"[]"}', '{"id":1,"op":"read"}', '{"id":1,"op":"read","query":null}',
  '{"id":1,"op":"read","query":"agents"}', '{"id":1,"op":"read","query":{"type":"agents"}}', '{"id":1,"op":"read","query":{"type":"agents","filter":null}}',
  '{"id":1,"op":"read","query":{"type":"agents","filter":{"state":{"x":1}}}}', '{"id":1,"op":"read","query":{"type":"agent","dn":["7001"]}}',
  '{"id":1,"op":"read","query":{"type":"__proto__"}}', '{"id":1,"op":"read","query":{"type":"status"},"consistency":7}', '{"id":1,"op":"read","query":{"type":"status"},"timeoutMs":"x"}',
  '{"id":1,"op":"read","query":{"type":"status"},"timeoutMs":-5}', '{"id":1,"op":"read","query":{"type":"status"},"timeoutMs":1e308}', '{"id":1,"op":"feed","fromIndex":-1}',
  '{"id":1,"op":"feed","fromIndex":"0"}', '{"id":1,"op":"unfeed"}', '{"id":1,"op":"unfeed","feedId":{}}', '{"id":1,"op":"hello"}', '{"__proto__":{"op":"read"},"id":1}',
  '{"id":1.5,"op":"read","query":{"type":"status"}}', '{"id":9007199254740993,"op":"read","query":{"type":"status"}}', `{"id":1,"op":"${'x'.repeat(5000)}"}`,
  '{"id":1,"op":"read","shard":null,"query":{"type":"status"}}', '{"id":1,"op":"read","shard":"","query":{"type":"status"}}', '{"id":1,"op":"read","shard":7,"query":{"type":"status"}}',
  '{"id":1,"op":"read","shard":["s1"],"query":{"type":"status"}}', '{"id":1,"op":"read","shard":{"__proto__":1},"query":{"type":"status"}}', '{"id":1,"op":"read","shard":"__proto__","query":{"type":"status"}}',
  `{"id":1,"op":"propose","shard":"${'s'.repeat(100_000)}","proposal":"{}"}`, '{"id":1,"op":"feed","shard":"nope","fromIndex":0}',
  '\u0000', '\uffff', '{"id":1,"op":"read","query":{"type":"status"}', // unterminated
].map((s) => Buffer.from(s, 'utf8'));
nasties.push(Buffer.from(`${'['.repeat(60_000)}${']'.repeat(60_000)}`), Buffer.from(`{"id":1,"op":${'['.repeat(50_000)}${']'.repeat(50_000)}}`));

t.test(`pre-auth: ${preAuthFrames} hostile frames, none answered`, async (t) => {
  const hello = encodeRpcHello('sip:fuzz', newRpcNonce());
  const proof = encodeRpcProof(newRpcNonce());
  const valid = [hello, proof, ...validRequests];
  // [payload, framed?, behind a valid hello?]
  const arb = fc.tuple(hostileBytes(valid, 1024), fc.nat(9));
  let answered = 0;
  let connections = 0;
  const one = async ([payload, mode]: [Uint8Array, number]): Promise<void> => {
    const socket = net.connect({ host: '127.0.0.1', port });
    socket.on('error', () => {});
    const got: Buffer[] = [];
    socket.on('data', (d: Buffer) => got.push(d));
    await new Promise<void>((resolve) => socket.once('connect', resolve).once('close', resolve));
    connections++;
    const bytes = mode < 3 ? payload : mode < 6 ? encodeFrame(payload) : Buffer.concat([encodeFrame(hello), encodeFrame(payload)]);
    socket.end(bytes);
    await new Promise<void>((resolve) => (socket.destroyed ? resolve() : socket.once('close', () => resolve())));
    const received = Buffer.concat(got).toString('latin1');
    if (/"ok"|"result"|"feed"/.test(received)) answered++;
  };
  await forEachSample(arb, preAuthFrames, 0, async (batch) => {
    const workers = 16;
    let next = 0;
    await Promise.all(Array.from({ length: workers }, async () => {
      while (next < batch.length) await one(batch[next++]!);
    }));
  });
  t.equal(connections, preAuthFrames, 'every frame was delivered on a connection of its own');
  t.equal(answered, 0, 'no request was answered before authentication');
  await waitUntil(() => replica.rpc.unauthenticated === 0, 'no connection left mid-handshake');
  t.equal(replica.rpc.unauthenticated, 0, 'no connection left mid-handshake');
  t.same(thrown, [], 'nothing threw');
});

t.test(`post-auth: ${postAuthFrames} hostile frames from authenticated clients`, async (t) => {
  const principals = ['sip:fuzz', 'launcher', `replica:${replicaConfig.id}`];
  let conn: RawRpc | null = null;
  let connects = 0;
  let probes = 0;
  let sent = 0;
  const connect = async (): Promise<RawRpc> => {
    const raw = await rawRpc(port);
    const principal = principals[connects++ % principals.length]!;
    if (!(await handshake(raw, { secret: config.secret, principal, replicaId: replicaConfig.id }))) throw new Error(`${principal} could not authenticate`);
    return raw;
  };
  const arb = fc.oneof({ weight: 8, arbitrary: hostileBytes(validRequests, 2048) }, { weight: 1, arbitrary: fc.constantFrom(...nasties) });
  await forEachSample(arb, postAuthFrames, 1_000_000, async (batch) => {
    // Each chunk from the next principal: a SIP node, the launcher, a replica's own client.
    (conn as RawRpc | null)?.socket.destroy();
    conn = null;
    for (let at = 0; at < batch.length; at += 100) {
      if (conn === null || conn.isClosed()) conn = await connect();
      const c: RawRpc = conn;
      const slice = batch.slice(at, at + 100);
      c.sendRaw(Buffer.concat(slice.map((p) => encodeFrame(p))));
      sent += slice.length;
      // A liveness probe: the connection still answers (or it was closed, and we reconnect).
      const probeId = 2 ** 52 + probes++;
      c.send({ id: probeId, op: 'read', query: { type: 'status' }, consistency: 'stale' });
      const deadline = Date.now() + 10_000;
      while (!c.isClosed() && !responses(c.frames.splice(0)).some((r) => r.id === probeId)) {
        if (Date.now() > deadline) throw new Error('the replica stopped answering an authenticated connection');
        await c.waitFrames(1, 200);
      }
    }
  });
  (conn as RawRpc | null)?.socket.destroy();
  t.equal(sent, postAuthFrames, 'every frame was sent');
  t.ok(probes > 0, `${probes} liveness probes answered, over ${connects} connection(s)`);
  t.same(thrown, [], 'nothing threw');
});

t.test('regression: a null frame gets an error reply, before and after authentication alike', async (t) => {
  // It used to end the replica process: `typeof req.id` on the parsed null threw out of
  // the socket's data handler.
  const stranger = await rawRpc(port);
  stranger.send('null');
  await stranger.closed;
  t.same(responses(stranger.frames), [], 'before authentication: closed, unanswered');

  const raw = await rawRpc(port);
  t.ok(await handshake(raw, { secret: config.secret, principal: 'sip:fuzz', replicaId: replicaConfig.id }));
  raw.frames.splice(0);
  for (const nasty of nasties) {
    const before = raw.frames.length;
    raw.send(nasty);
    raw.send({ id: 77, op: 'read', query: { type: 'status' }, consistency: 'stale' });
    await raw.waitFrames(before + 2);
    const answers = responses(raw.frames.slice(before));
    const label = Buffer.from(nasty).toString('utf8').slice(0, 40);
    t.ok(answers.some((a) => a.id !== 77), `${JSON.stringify(label)}: answered (an error, or a result where it was valid after all)`);
    t.ok(answers.some((a) => a.id === 77 && a.ok === true), `${JSON.stringify(label)}: the connection still serves`);
  }
  const nullAnswer = (() => {
    const before = raw.frames.length;
    raw.send('null');
    return raw.waitFrames(before + 1).then(() => responses(raw.frames.slice(before))[0]);
  })();
  t.match(await nullAnswer, { id: -1, ok: false, error: { code: 'SHARD_ERR_INVALID_COMMAND' } }, 'null: SHARD_ERR_INVALID_COMMAND');
  raw.socket.destroy();
  t.same(thrown, [], 'nothing threw');
});

t.test('afterwards a valid authenticated read is answered and nothing threw', async (t) => {
  const client = new ShardClient({ shards: config.shards, auth: { secret: config.secret, principal: 'sip:fuzz' }, attemptTimeoutMs: 2000, deadlineMs: 10_000 });
  t.teardown(() => client.close());
  const agents = await client.read(shard.id, { type: 'agents', filter: {} });
  t.ok(Array.isArray(agents), 'agents read');
  const status = (await client.replicaStatus(shard.id, replicaConfig.id)) as { role: string };
  t.equal(status.role, 'leader', 'the replica still leads');
  t.same(thrown, [], 'no uncaught exception or unhandled rejection');
  t.same(errors.filter((e) => /shard rpc/.test(e)), [], 'no internal error in the RPC server');
});

async function waitUntil(cond: () => boolean, what: string, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out: ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
