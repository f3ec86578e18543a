// Proves the OPTIONS keep-alives to UDP phones registered from behind a NAT
// (sip/node/nat-keepalive.ts) on real sockets (127.0.0.1): a phone whose REGISTER looks
// NATed (it asks for rport and its Via names another port than the one it sends from, and
// its Contact is a private address) is pinged with OPTIONS at the port the REGISTER came
// from, with its Contact as Request-URI, while it answers its binding stays; once it stops
// answering, the binding is removed from its shard after the configured number of misses,
// and new pings stop (an unanswered one is still retransmitted by its transaction, as
// RFC 3261 §17.1.2 has it; counted once here). A phone whose REGISTER is not NATed is never pinged.

import dgram from 'node:dgram';
import t from 'tap';
import { digestAuthorization } from '../../sip/node/digest.js';
import { buildResponse, getHeader, getHeaders, parseDigestParams, parseMessage, serializeMessage, type SipRequest, type SipResponse } from '../../sip/syntax/index.js';
import { addAgent, password, readAgent, startCluster, startNode, waitFor } from '../sip/node/harness.js';

type Phone = Readonly<{ port: number; options: SipRequest[]; responses: SipResponse[]; send: (m: SipRequest) => void; answering: { on: boolean } }>;

async function udpPhone(t: { teardown(fn: () => unknown): void }, nodePort: number): Promise<Phone> {
  const socket = dgram.createSocket('udp4');
  t.teardown(() => new Promise<void>((r) => socket.close(() => r())));
  await new Promise<void>((r) => socket.bind(0, '127.0.0.1', () => r()));
  const options: SipRequest[] = [];
  const responses: SipResponse[] = [];
  const answering = { on: true };
  const seen = new Set<string>();
  socket.on('message', (b, rinfo) => {
    const r = parseMessage(b);
    if (!r.ok) return;
    if (r.message.kind === 'response') return void responses.push(r.message);
    if (r.message.method !== 'OPTIONS') return;
    // One entry per ping: an unanswered one is retransmitted by its UDP transaction (Timer E).
    const id = getHeader(r.message, 'Call-ID') ?? '';
    if (!seen.has(id)) options.push(r.message);
    seen.add(id);
    if (answering.on) socket.send(serializeMessage(buildResponse(r.message, 200, 'OK', { toTag: 'ka' })), rinfo.port, rinfo.address);
  });
  const send = (m: SipRequest): void => { socket.send(serializeMessage(m), nodePort, '127.0.0.1'); };
  return { port: socket.address().port, options, responses, send, answering };
}

function register(dn: string, viaPort: number, contact: string, cseq: number, extra: { name: string; value: string }[]): SipRequest {
  return {
    kind: 'request', method: 'REGISTER', uri: 'sip:ringfence',
    headers: [
      { name: 'Via', value: `SIP/2.0/UDP 127.0.0.1:${viaPort};branch=z9hG4bKka${dn}${cseq};rport` },
      { name: 'Max-Forwards', value: '70' },
      { name: 'From', value: `<sip:${dn}@ringfence>;tag=ka${dn}` },
      { name: 'To', value: `<sip:${dn}@ringfence>` },
      { name: 'Call-ID', value: `ka-${dn}` },
      { name: 'CSeq', value: `${cseq} REGISTER` },
      { name: 'Contact', value: `<${contact}>` },
      { name: 'Expires', value: '600' },
      ...extra,
      { name: 'Content-Length', value: '0' },
    ],
    body: new Uint8Array(0),
  };
}

async function registerWithDigest(phone: Phone, dn: string, viaPort: number, contact: string): Promise<SipResponse> {
  phone.send(register(dn, viaPort, contact, 1, []));
  const challenge = await waitFor('401', () => phone.responses[0], (r) => r !== undefined);
  const auth = digestAuthorization({ method: 'REGISTER', uri: 'sip:ringfence', username: dn, password: password(dn), challenge: parseDigestParams(getHeaders(challenge!, 'WWW-Authenticate')[0] ?? '')!, nc: 1, cnonce: 'abc123' });
  phone.send(register(dn, viaPort, contact, 2, [{ name: 'Authorization', value: auth }]));
  return (await waitFor('200', () => phone.responses[1], (r) => r !== undefined))!;
}

t.test('NATed UDP bindings are pinged while they answer and removed after missed pings', async (t) => {
  const { cluster, config } = await startCluster(t, [{ number: '5500', skill: 'ka', minLevel: 0 }], 1);
  const node = await startNode(t, config, { digestAlgorithms: ['MD5'], natKeepAliveIntervalMs: 200, natKeepAliveMisses: 2 });
  await addAgent(cluster, config, '9501', { ka: 50 });
  await addAgent(cluster, config, '9502', { ka: 50 });
  const natted = await udpPhone(t, node.udpPort);
  const direct = await udpPhone(t, node.udpPort);

  // Via says port 5999, the packets come from another port, rport asked: NATed.
  const contact = 'sip:9501@10.99.0.2:5060';
  t.equal((await registerWithDigest(natted, '9501', 5999, contact)).status, 200);
  t.match((await readAgent(cluster, '9501')).contacts[0]?.received, { protocol: 'UDP', host: '127.0.0.1', port: natted.port });
  // The same, but honest: Via and Contact name the port it sends from.
  t.equal((await registerWithDigest(direct, '9502', direct.port, `sip:9502@127.0.0.1:${direct.port}`)).status, 200);
  t.equal((await readAgent(cluster, '9502')).contacts[0]?.received, undefined);

  await waitFor('three answered pings', () => natted.options.length, (n) => n >= 3);
  const ping = natted.options[0]!;
  t.equal(ping.uri, contact, 'the ping names the Contact and travels to where the REGISTER came from');
  t.equal(getHeader(ping, 'CSeq'), '1 OPTIONS');
  t.equal((await readAgent(cluster, '9501')).contacts.length, 1, 'an answering phone keeps its binding');

  natted.answering.on = false;
  await waitFor('binding removed', () => readAgent(cluster, '9501'), (a) => a.contacts.length === 0);
  const afterRemoval = natted.options.length;
  t.ok(afterRemoval >= 5, `at least 3 answered + 2 missed pings before removal (${afterRemoval})`);
  await waitFor('view drops the contact', () => node.view.get('9501'), (a) => a !== undefined && a.contacts.length === 0);
  // Pings to a removed binding stop: the next rounds send nothing more (at most one was in flight).
  await new Promise((r) => setTimeout(r, 600));
  t.ok(natted.options.length <= afterRemoval + 1, 'no pings after the binding is gone');
  t.equal(direct.options.length, 0, 'a phone that is not behind a NAT is never pinged');
  t.equal((await readAgent(cluster, '9502')).contacts.length, 1, 'and keeps its binding');
});
