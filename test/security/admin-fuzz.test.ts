// Threat: the admin REST of a shard replica, of a SIP node (with the dashboard: `/`,
// `/v1/dashboard`, the `/v1/events` stream, `/v1/cluster`) and of a media gateway had never met hostile input;
// an exception escaping a route could end the process, and a 5xx for bad input tells the
// caller "our bug" where the truth is "your request". Proves: fuzzFramesPerListener()
// raw HTTP requests per listener — generated request lines, methods, paths, query
// strings, headers, JSON bodies with the wrong types, chunked encodings, and byte-level
// mutations of all of these — sent over real TCP to real processes (`ringfence shard`,
// `ringfence sip`, `ringfence gateway`) on 127.0.0.1; none gets a 5xx for its bad input (every 4xx carries a
// JSON problem body); afterwards the replica's `/v1/status` and the SIP node's `/v1/calls` and dashboard still answer 200 with
// the token, and neither process exited. Requests that would legitimately change the
// cluster's membership are not generated (ids are never members', see http-fuzz.ts).
import fc from 'fast-check';
import { join } from 'node:path';
import t from 'tap';
import { ProcessSet, writeLocalClusterConfig } from '../../cluster/local-cluster.js';
import { fuzzFramesPerListener, mutated } from '../support/fuzz.js';
import { inBatches, renderRequest, requestParts, routeRequest, sendRaw, type Answer, type Tokens } from '../support/http-fuzz.js';
import { tempDir } from '../support/temp-dir.js';

const frames = fuzzFramesPerListener();
const concurrency = 16;
const chunk = 2000;
/** A request left unanswered this long counts as hung (a finding, not a timing assertion). */
const giveUpMs = 15_000;

type Finding = { request: string; answer: Answer };

/** Throws `frames` requests at `port` in chunks (a million never sit in memory at once). */
async function barrage(port: number, tokens: Tokens, seed: number): Promise<{ statuses: Map<string, number>; findings: Finding[] }> {
  const statuses = new Map<string, number>();
  const findings: Finding[] = [];
  const valid = fc.sample(requestParts(tokens).map(renderRequest), { numRuns: 200, seed });
  const arb = fc.oneof({ weight: 4, arbitrary: routeRequest(tokens).map(renderRequest) }, { weight: 2, arbitrary: requestParts(tokens).map(renderRequest) }, { weight: 1, arbitrary: mutated(valid) }, { weight: 1, arbitrary: fc.uint8Array({ maxLength: 512 }) });
  for (let done = 0, round = 0; done < frames; round++) {
    const batch = fc.sample(arb, { numRuns: Math.min(chunk, frames - done), seed: seed + 1 + round });
    done += batch.length;
    await inBatches(batch, concurrency, async (bytes) => {
      const answer = await sendRaw(port, bytes, giveUpMs);
      const key = answer.status === null ? (answer.head === 'NO ANSWER' ? 'hung' : 'closed') : String(answer.status);
      statuses.set(key, (statuses.get(key) ?? 0) + 1);
      const problemless = answer.status !== null && answer.status >= 400 && answer.status < 500 && !/\r\ncontent-type: application\/(problem\+)?json/i.test(answer.head);
      if (key === 'hung' || (answer.status !== null && answer.status >= 500) || problemless) {
        if (findings.length < 20) findings.push({ request: Buffer.from(bytes).toString('latin1').slice(0, 600), answer });
        else findings.length++;
      }
    });
  }
  return { statuses, findings };
}

async function getStatus(port: number, path: string, token: string): Promise<number> {
  const res = await fetch(`http://127.0.0.1:${port}${path}`, { headers: { authorization: `Bearer ${token}` } });
  await res.arrayBuffer();
  return res.status;
}

t.test(`the admin listeners of a shard replica, a SIP node and a gateway take ${frames} hostile requests each`, { timeout: 0 }, async (t) => {
  const dir = tempDir(t, 'admin-fuzz');
  const { path, config } = await writeLocalClusterConfig({ dir, shards: 1, replicasPerShard: 1, sipNodes: 1, gateways: 1 });
  const procs = new ProcessSet(path, { logFile: join(dir, 'processes.log') });
  const exits: string[] = [];
  let tearingDown = false;
  procs.onExit = (id, code, signal) => {
    if (!tearingDown) exits.push(`${id} exited (${signal ?? code})`);
  };
  const killAll = (): void => procs.killAllNow();
  process.once('exit', killAll);
  t.teardown(async () => {
    tearingDown = true;
    await procs.stopAll(2000);
    process.removeListener('exit', killAll);
  });
  await procs.start('shard', 's1-a', [], 120_000);
  await procs.start('sip', 'sip1', [], 120_000);
  await procs.start('gateway', 'gw1', [], 60_000);
  const gatewayAdmin = config.gateways[0]!.admin!.port;
  const shardAdmin = config.shards[0]!.replicas[0]!.admin.port;
  const sipAdmin = config.sip[0]!.admin.port;
  // One real agent, so /v1/agents/:dn and state changes have something to work on.
  const put = await fetch(`http://127.0.0.1:${shardAdmin}/v1/agents/1001`, { method: 'PUT', headers: { authorization: `Bearer ${config.tokens.admin}`, 'content-type': 'application/json' }, body: JSON.stringify({ name: 'Ada', skills: { support: 50 } }) });
  t.equal(put.status, 200, 'an agent is provisioned before the barrage');

  const [shard, sip, gateway] = await Promise.all([barrage(shardAdmin, config.tokens, 1800), barrage(sipAdmin, config.tokens, 2800), barrage(gatewayAdmin, config.tokens, 3800)]);
  for (const [name, r] of [['shard replica', shard], ['SIP node', sip], ['gateway', gateway]] as const) {
    t.comment(`${name}: ${JSON.stringify(Object.fromEntries([...r.statuses].sort()))}`);
    t.same(r.findings, [], `${name}: no 5xx, no hung request, every 4xx a JSON problem`);
  }
  // Found by this barrage's first runs: a member address the schema let through (five
  // digits, port past 65535) reached net.connect on the next Raft send and ended the
  // replica. Now a 400 naming the field, and nothing joins.
  for (const raft of ['127.0.0.1:99999', '127.0.0.1:0', '[]:7000']) {
    const res = await fetch(`http://127.0.0.1:${shardAdmin}/v1/members`, { method: 'POST', headers: { authorization: `Bearer ${config.tokens.admin}`, 'content-type': 'application/json' }, body: JSON.stringify({ id: 'zz-joiner', raft, promote: false }) });
    t.match({ status: res.status, body: await res.json() }, { status: 400, body: { code: 'ADMIN_ERR_BAD_REQUEST', field: 'body.raft' } }, `POST /v1/members with raft ${raft}: 400 naming body.raft`);
  }
  const status = await (await fetch(`http://127.0.0.1:${shardAdmin}/v1/status`, { headers: { authorization: `Bearer ${config.tokens.read}` } })).json() as { conf?: { voters: string[]; learners: string[] } };
  t.same(status.conf, { voters: ['s1-a'], learners: [] }, 'the membership did not change');
  t.same(exits, [], 'no process exited');
  t.equal(await getStatus(shardAdmin, '/v1/status', config.tokens.read), 200, 'the replica still answers /v1/status');
  t.equal(await getStatus(sipAdmin, '/v1/calls', config.tokens.read), 200, 'the SIP node still answers /v1/calls (it has no /v1/status)');
  t.equal(await getStatus(sipAdmin, '/v1/dashboard', config.tokens.read), 200, 'the dashboard still answers');
  t.equal(await getStatus(gatewayAdmin, '/v1/status', config.tokens.read), 200, 'the gateway still answers /v1/status');
  t.ok(procs.isRunning('s1-a') && procs.isRunning('sip1') && procs.isRunning('gw1'), 'every process is running');
});
