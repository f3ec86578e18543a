// Proves that the cluster file refuses keys it does not know, in every mapping, naming
// the key by its path and the known key it was likely meant to be (edit distance), and
// that every key it documents is accepted. A typo such as `preferedLeader` used to be
// ignored silently, so the shard ran without the setting the operator wrote.
import t from 'tap';
import { ConfigError, knownKeys, nearestKey, validateClusterConfig } from '../../common/config.js';

const base = () => ({
  secret: 'q8w7e6r5t4y3u2i1o0pAaSsDdFfGgHhJjKkLl9',
  tokens: { read: 'read-7c1e5b3d9f0a2c4e6a8b0d2f4a6c8e0b', admin: 'admin-0b8e6c4a2f0d8b6e4c2a0f8d6b4e2c0a' },
  realm: 'ringfence',
  raft: { tickMs: 10 },
  shards: [{ id: 's1', preferredLeader: 's1-a', replicas: [{ id: 's1-a', raft: '127.0.0.1:7001', client: '127.0.0.1:7002', admin: '127.0.0.1:7003', data: '/tmp/x', join: false }] }],
  sip: [{ id: 'sip1', udp: '127.0.0.1:5060', tcp: '127.0.0.1:5060', admin: '127.0.0.1:8080' }],
  gateways: [{ id: 'gw1', control: '127.0.0.1:2223', ports: '30000-30999', admin: '127.0.0.1:9090', ngAuth: true }],
  services: [{ number: '5000', skill: 'support', minLevel: 0 }],
  routing: { webhook: { url: 'http://127.0.0.1:9/route', timeoutMs: 300 } },
});

type Doc = ReturnType<typeof base> & Record<string, unknown>;

function refusal(edit: (d: Doc) => void): ConfigError {
  const d = base() as Doc;
  edit(d);
  try {
    validateClusterConfig(d);
  } catch (err) {
    if (err instanceof ConfigError) return err;
    throw err;
  }
  throw new Error('accepted');
}

t.test('every documented key is accepted', async (t) => {
  t.doesNotThrow(() => validateClusterConfig(base()));
});

t.test('an unknown key in any mapping names its path and the nearest known key', async (t) => {
  const cases: [string, (d: Doc) => void, string, string | null][] = [
    ['root', (d) => (d.relam = 'x'), 'relam', 'realm'],
    ['tokens', (d) => ((d.tokens as Record<string, unknown>).reed = 'x'), 'tokens.reed', 'read'],
    ['raft', (d) => ((d.raft as Record<string, unknown>).tickMS = 5), 'raft.tickMS', 'tickMs'],
    ['shard', (d) => ((d.shards[0] as Record<string, unknown>).preferedLeader = 's1-a'), 'shards[0].preferedLeader', 'preferredLeader'],
    ['replica', (d) => ((d.shards[0]!.replicas[0] as Record<string, unknown>).dataDir = '/x'), 'shards[0].replicas[0].dataDir', 'data'],
    ['sip node', (d) => ((d.sip[0] as Record<string, unknown>).tpc = '127.0.0.1:5060'), 'sip[0].tpc', 'tcp'],
    ['gateway', (d) => ((d.gateways[0] as Record<string, unknown>).port = '1-2'), 'gateways[0].port', 'ports'],
    ['service', (d) => ((d.services[0] as Record<string, unknown>).minlevel = 3), 'services[0].minlevel', 'minLevel'],
    ['routing', (d) => ((d.routing as Record<string, unknown>).webhok = 'http://x'), 'routing.webhok', 'webhook'],
    ['webhook', (d) => ((d.routing.webhook as Record<string, unknown>).timeout = 3), 'routing.webhook.timeout', 'timeoutMs'],
    ['far from any', (d) => (d.colour = 'blue'), 'colour', null],
  ];
  for (const [what, edit, field, near] of cases) {
    const err = refusal(edit);
    t.equal(err.field, field, `${what}: names ${field}`);
    t.equal(err.code, 'CONFIG_ERR_INVALID');
    if (near === null) t.notMatch(err.message, /did you mean/, `${what}: suggests nothing`);
    else t.match(err.message, `unknown key; did you mean ${near}?`, `${what}: suggests ${near}`);
  }
});

t.test('nearest key', async (t) => {
  t.equal(nearestKey('preferedLeader', knownKeys.shard), 'preferredLeader');
  t.equal(nearestKey('ID', knownKeys.shard), 'id', 'case does not count');
  t.equal(nearestKey('zzzzzzzz', knownKeys.shard), null);
});
