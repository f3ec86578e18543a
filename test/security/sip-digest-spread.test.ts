// Threat: password guessing spread over many source addresses. The per-(source, DN)
// lockout gives every address its own budget, so a guesser with a botnet or an IPv6 /64
// gets (budget - 1) tries from each. Proves against a real SIP node over UDP, with phones
// on eight loopback addresses and a real shard replica behind it: once the failures for
// one DN from all sources reach the per-DN limit (6 here), a new source's REGISTER gets
// 403 "Too Many Failed Attempts" even with the right password and binds nothing; the
// agent's own phone, which registered from its address before the attack, still
// registers; another DN is untouched.
import t from 'tap';
import { addAgent, password, readAgent, sipTarget, startCluster, startNode } from '../sip/node/harness.js';
import { TestUa } from '../sip/node/test-ua.js';

const { cluster, config } = await startCluster(t, [], 1);
await addAgent(cluster, config, '2101', {});
await addAgent(cluster, config, '2102', {});
const node = await startNode(t, config, { digestThrottle: { failuresMax: 3, userFailuresMax: 6, lockoutMs: 600_000, userGuardMs: 600_000 } });
const server = sipTarget(node);

async function ua(host: string): Promise<TestUa> {
  const u = await TestUa.start('answer', host);
  t.teardown(() => u.close());
  return u;
}

t.test('guesses from many sources guard the DN; its known phone still registers', async (t) => {
  const phone = await ua('127.0.0.2');
  t.equal((await phone.register(server, '2101', password('2101'))).response.status, 200, 'the agent\'s phone registers before the attack');
  // Six guessers, one wrong password each: under every per-source limit (3).
  for (let i = 0; i < 6; i++) {
    const guesser = await ua(`127.0.1.${10 + i}`);
    const r = await guesser.register(server, '2101', `guess-${i}`);
    t.same([r.response.status, r.response.reason], [403, 'Forbidden'], `guesser ${i + 1} (127.0.1.${10 + i}): a checked wrong password`);
  }
  const newcomer = await ua('127.0.1.99');
  const right = await newcomer.register(server, '2101', password('2101'));
  t.same([right.response.status, right.response.reason], [403, 'Too Many Failed Attempts'], 'a new source is refused unchecked, even with the right password');
  t.same((await readAgent(cluster, '2101')).contacts.map((c) => c.uri).filter((u) => u.includes('127.0.1.99')), [], 'it bound nothing');
  t.equal((await phone.register(server, '2101', password('2101'))).response.status, 200, 'the phone that registered before still registers');
  t.equal((await newcomer.register(server, '2102', password('2102'))).response.status, 200, 'another DN from the same new source is untouched');
});
