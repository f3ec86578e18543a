// Proves that a deployment can still swap in a gateway that speaks plain ng (a real
// rtpengine, or ours with --ng-auth off), now that the SIP nodes sign their ng commands:
// a cluster file's `gateways[].ngAuth: false` makes the SIP node's media controller send
// that gateway unsigned commands and accept its unsigned replies, and media is anchored;
// left at its default (signed), the same plain gateway's unsigned replies are not trusted
// and the offer fails. The field is parsed strictly, naming itself when it is not a boolean.
import { randomBytes } from 'node:crypto';
import t from 'tap';
import { ConfigError, validateClusterConfig, type GatewayConfig } from '../../common/config.js';
import { silentLogger } from '../../common/logger.js';
import { NgMediaController } from '../../sip/node/media.js';
import { freePortRange, sdp, spawnGateway } from './helpers.js';

const rootSecret = randomBytes(32).toString('hex');

t.test('ngAuth: false talks plain ng; the signed default does not trust a plain gateway', async (t) => {
  const gw = await spawnGateway(t, ['--ports', await freePortRange(4), '--ng-auth', 'off']);
  const config = (ngAuth: boolean): GatewayConfig => ({ id: 'gw-plain', control: { host: '127.0.0.1', port: gw.control }, portMin: 0, portMax: 0, admin: null, ngAuth });

  const plain = new NgMediaController({ gateways: [config(false)], log: silentLogger, rootSecret, ngTimeoutMs: 300 });
  t.teardown(() => plain.close());
  const offered = await plain.offer('call-1', 'tag-a', sdp(40000));
  t.equal(offered.gateway, 'gw-plain', 'anchored on the plain gateway');
  t.notMatch(offered.sdp, /m=audio 40000 /, 'the SDP now points at the gateway');

  const signed = new NgMediaController({ gateways: [config(true)], log: silentLogger, rootSecret, ngTimeoutMs: 300 });
  t.teardown(() => signed.close());
  await t.rejects(signed.offer('call-2', 'tag-a', sdp(40002)), 'unsigned replies are not taken from a gateway expected to sign');
});

t.test('gateways[].ngAuth is a boolean, true by default', async (t) => {
  const doc = (gateway: Record<string, unknown>) => ({
    secret: rootSecret,
    tokens: { read: randomBytes(24).toString('hex'), admin: randomBytes(24).toString('hex') },
    shards: [{ id: 's1', replicas: [{ id: 's1-a', raft: '127.0.0.1:7101', client: '127.0.0.1:7201', admin: '127.0.0.1:8101' }] }],
    gateways: [{ id: 'gw1', control: '127.0.0.1:2223', ...gateway }],
  });
  t.equal(validateClusterConfig(doc({})).gateways[0]!.ngAuth, true);
  t.equal(validateClusterConfig(doc({ ngAuth: false })).gateways[0]!.ngAuth, false);
  let refused: unknown = null;
  try {
    validateClusterConfig(doc({ ngAuth: 'no' }));
  } catch (err) {
    refused = err;
  }
  t.ok(refused instanceof ConfigError, 'a non-boolean is refused');
  t.equal((refused as ConfigError).field, 'gateways[0].ngAuth', 'naming the field');
});
