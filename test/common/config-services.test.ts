// Proves the cluster file's per-service settings (issue #21): every field is read with its
// default, and each bad value is refused naming its field, so an operator's typo in a
// strategy or an overflow never silently routes calls some other way. The same parser
// checks `PUT /v1/services/:number` bodies.
import t from 'tap';
import { ConfigError, parseService, serviceDefinition, validateClusterConfig } from '../../common/config.js';

const doc = (services: unknown[]) => ({
  secret: 'q8w7e6r5t4y3u2i1o0pAaSsDdFfGgHhJjKkLl9',
  tokens: { read: 'read-7c1e5b3d9f0a2c4e6a8b0d2f4a6c8e0b', admin: 'admin-0b8e6c4a2f0d8b6e4c2a0f8d6b4e2c0a' },
  shards: [{ id: 's1', replicas: [{ id: 's1-a', raft: '127.0.0.1:7001', client: '127.0.0.1:7002', admin: '127.0.0.1:7003', data: '/tmp/x' }] }],
  sip: [],
  gateways: [],
  services,
});

function refusedField(value: unknown): string {
  try {
    parseService(value, 'services[0]');
  } catch (err) {
    if (err instanceof ConfigError) return err.field;
    throw err;
  }
  throw new Error(`accepted ${JSON.stringify(value)}`);
}

t.test('a bare service gets every default', async (t) => {
  const [s] = validateClusterConfig(doc([{ number: '5000', skill: 'support' }])).services;
  t.same(s, { number: '5000', skill: 'support', minLevel: 0, strategy: null, priority: 0, maxWaitMs: null, maxQueueLength: null, overflow: null, wrapUpMs: null, ringTimeoutMs: null, serviceLevelMs: 20_000, announcements: null });
  t.same(serviceDefinition({ number: '5000', skill: 'support', minLevel: 0 }), s, 'configs built by code default alike');
});

t.test('every setting is read', async (t) => {
  const services = validateClusterConfig(doc([
    { number: '5000', skill: 'sales', minLevel: 10, strategy: 'skill-ranked', priority: 7, maxWaitMs: 60_000, maxQueueLength: 20, overflow: { service: '5001' }, wrapUpMs: 3000, ringTimeoutMs: 12_000, serviceLevelMs: 15_000, announcements: { music: 'moh', everyMs: 20_000, estimatedWait: false } },
    { number: '5001', skill: 'sales', overflow: { status: 486 } },
  ])).services;
  t.same(services[0], { number: '5000', skill: 'sales', minLevel: 10, strategy: 'skill-ranked', priority: 7, maxWaitMs: 60_000, maxQueueLength: 20, overflow: { service: '5001' }, wrapUpMs: 3000, ringTimeoutMs: 12_000, serviceLevelMs: 15_000, announcements: { music: 'moh', everyMs: 20_000, position: true, estimatedWait: false } });
  t.same(services[1]!.overflow, { status: 486 });
});

t.test('bad values are refused naming the field', async (t) => {
  const ok = { number: '5000', skill: 'sales' };
  t.equal(refusedField({ ...ok, strategy: 'random' }), 'services[0].strategy');
  t.equal(refusedField({ ...ok, priority: 101 }), 'services[0].priority');
  t.equal(refusedField({ ...ok, maxWaitMs: 10 }), 'services[0].maxWaitMs');
  t.equal(refusedField({ ...ok, maxQueueLength: 0 }), 'services[0].maxQueueLength');
  t.equal(refusedField({ ...ok, overflow: { status: 404 } }), 'services[0].overflow.status');
  t.equal(refusedField({ ...ok, overflow: { service: '5000' } }), 'services[0].overflow.service');
  t.equal(refusedField({ ...ok, overflow: { service: '5001', status: 486 } }), 'services[0].overflow');
  t.equal(refusedField({ ...ok, announcements: { music: '../../etc/passwd' } }), 'services[0].announcements.music');
  t.equal(refusedField({ ...ok, announcements: { everyMs: 100 } }), 'services[0].announcements.everyMs');
  t.equal(refusedField({ ...ok, annoucements: {} }), 'services[0].annoucements');
  t.equal(refusedField({ ...ok, skill: 'a b' }), 'services[0].skill');
  t.equal(refusedField('5000'), 'services[0]');
});

t.test('the file refuses a number twice and an overflow to an unknown service', async (t) => {
  const fileRefusal = (services: unknown[]): string | null => {
    try {
      validateClusterConfig(doc(services));
      return null;
    } catch (err) {
      return err instanceof ConfigError ? err.field : String(err);
    }
  };
  t.equal(fileRefusal([{ number: '5000', skill: 'a' }, { number: '5000', skill: 'b' }]), 'services[1].number');
  t.equal(fileRefusal([{ number: '5000', skill: 'a', overflow: { service: '5009' } }]), 'services[0].overflow.service');
});
