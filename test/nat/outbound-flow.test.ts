// Proves RFC 5626 (SIP Outbound) flow reuse over TCP on real sockets (127.0.0.1): a phone
// that REGISTERs over TCP with `Supported: outbound`, `reg-id` and `+sip.instance` gets a
// 200 with `Require: outbound` and `Flow-Timer`, its binding names the flow (node and
// connection), and a call to it arrives over that very connection (INVITE, then ACK and
// BYE), never over a new connection to its Contact — a listener at the Contact address
// counts connections and sees none. A CRLF-CRLF ping on the flow gets a CRLF pong
// (§4.4.1). Once the phone closes its flow, a call to it fails at once (FLOW_GONE: no new
// connection to a NATed phone) and still nobody dials the Contact. The phone is written
// out here, byte by byte, because what is tested is exactly what it puts on the wire.

import { randomBytes, randomUUID } from 'node:crypto';
import net from 'node:net';
import t from 'tap';
import { freePorts } from '../../cluster/local-cluster.js';
import { digestAuthorization } from '../../sip/node/digest.js';
import { buildResponse, getHeader, getHeaders, parseDigestParams, serializeMessage, SipStreamParser, type SipMessage, type SipRequest, type SipResponse } from '../../sip/syntax/index.js';
import { addAgent, password, readAgent, sipTarget, startCluster, startNode, waitFor } from '../sip/node/harness.js';
import { TestUa } from '../sip/node/test-ua.js';

/** A phone on one TCP connection: what it receives, parsed, in order. */
async function tcpPhone(t: { teardown(fn: () => unknown): void }, port: number, localPort: number) {
  const socket = net.connect({ host: '127.0.0.1', port, localAddress: '127.0.0.1', localPort });
  t.teardown(() => socket.destroy());
  await new Promise<void>((resolve, reject) => { socket.once('connect', () => resolve()); socket.once('error', reject); });
  const parser = new SipStreamParser();
  const got: SipMessage[] = [];
  let raw = '';
  socket.on('data', (d: Buffer) => {
    raw += d.toString('latin1');
    for (const r of parser.push(d)) if (r.ok) got.push(r.message);
  });
  const send = (m: SipMessage): void => { socket.write(serializeMessage(m)); };
  return { socket, got, send, raw: () => raw, localPort: socket.localPort! };
}

async function trap(port: number, onConnection: () => void): Promise<net.Server> {
  const server = net.createServer((s) => { onConnection(); s.destroy(); });
  await new Promise<void>((resolve, reject) => { server.once('error', reject); server.listen(port, '127.0.0.1', () => resolve()); });
  return server;
}

t.test('an outbound TCP flow carries the calls to its phone, and only it', async (t) => {
  const { cluster, config } = await startCluster(t, [{ number: '5400', skill: 'ob', minLevel: 0 }], 1);
  const node = await startNode(t, config, { digestAlgorithms: ['MD5'] });
  const dn = '9401';
  await addAgent(cluster, config, dn, { ob: 50 });

  // Where the phone's Contact points: any connection here would be a dial-out to it.
  let dialedContact = 0;
  const contactTrap = await trap(0, () => dialedContact++);
  t.teardown(() => new Promise<void>((r) => contactTrap.close(() => r())));
  const contactPort = (contactTrap.address() as net.AddressInfo).port;

  const [flowPort] = await freePorts(1);
  const phone = await tcpPhone(t, node.tcpPort, flowPort!);
  const instance = `<urn:uuid:${randomUUID()}>`;
  const contact = `<sip:${dn}@127.0.0.1:${contactPort};transport=tcp;ob>;reg-id=1;+sip.instance="${instance}"`;
  const register = (cseq: number, extra: { name: string; value: string }[]): SipRequest => ({
    kind: 'request', method: 'REGISTER', uri: 'sip:ringfence',
    headers: [
      { name: 'Via', value: `SIP/2.0/TCP 127.0.0.1:${phone.localPort};branch=z9hG4bK${randomBytes(6).toString('hex')};rport` },
      { name: 'Max-Forwards', value: '70' },
      { name: 'From', value: `<sip:${dn}@ringfence>;tag=ob1` },
      { name: 'To', value: `<sip:${dn}@ringfence>` },
      { name: 'Call-ID', value: 'outbound-reg-1' },
      { name: 'CSeq', value: `${cseq} REGISTER` },
      { name: 'Supported', value: 'outbound, path' },
      { name: 'Contact', value: contact },
      { name: 'Expires', value: '600' },
      ...extra,
      { name: 'Content-Length', value: '0' },
    ],
    body: new Uint8Array(0),
  });
  const response = (i: number): Promise<SipResponse> => waitFor(`response ${i}`, () => phone.got[i], (m) => m !== undefined && m.kind === 'response' && m.status >= 200) as Promise<SipResponse>;

  phone.send(register(1, []));
  const challenge = await response(0);
  t.equal(challenge.status, 401);
  const auth = digestAuthorization({ method: 'REGISTER', uri: 'sip:ringfence', username: dn, password: password(dn), challenge: parseDigestParams(getHeaders(challenge, 'WWW-Authenticate')[0] ?? '')!, nc: 1, cnonce: 'c0ffee' });
  phone.send(register(2, [{ name: 'Authorization', value: auth }]));
  const ok = await response(1);
  t.equal(ok.status, 200, 'registered');
  t.equal(getHeader(ok, 'Require'), 'outbound', 'the registrar confirms the flow (RFC 5626 §6)');
  t.equal(getHeader(ok, 'Flow-Timer'), '60', 'and asks for keep-alives inside the TCP idle timeout');
  const binding = (await readAgent(cluster, dn)).contacts[0];
  t.match(binding?.received, { protocol: 'TCP', host: '127.0.0.1', port: phone.localPort, node: 'sip1', outbound: true, connection: /^tcp-\d+$/ }, 'the binding names its flow');

  const before = phone.raw().length;
  phone.socket.write('\r\n\r\n');
  const pong = await waitFor('CRLF pong', () => phone.raw().slice(before), (r) => r.length > 0);
  t.equal(pong, '\r\n', 'a CRLF-CRLF ping gets a CRLF pong (RFC 5626 §4.4.1)');

  await waitFor('agent routable', () => node.view.get(dn), (a) => a?.status.state === 'READY' && a.contacts.length > 0);
  const caller = await TestUa.start();
  t.teardown(() => caller.close());
  const server = sipTarget(node);
  const call = caller.call(server, '5400');
  const invite = await waitFor('INVITE on the flow', () => phone.got.find((m) => m.kind === 'request' && m.method === 'INVITE'), (m) => m !== undefined) as SipRequest;
  t.equal(invite.uri.split(';')[0], `sip:${dn}@127.0.0.1:${contactPort}`, 'Request-URI is the registered Contact');
  const sdp = Buffer.from(`v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 41000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n`);
  const answer = buildResponse(invite, 200, 'OK', {
    toTag: 'phone1', body: sdp,
    headers: [{ name: 'Contact', value: `<sip:${dn}@127.0.0.1:${contactPort};transport=tcp;ob>` }, { name: 'Content-Type', value: 'application/sdp' }],
  });
  phone.send(answer);
  t.equal((await call.final).status, 200, 'the caller is connected');
  await waitFor('ACK on the flow', () => phone.got.some((m) => m.kind === 'request' && m.method === 'ACK'), (x) => x);
  await caller.ack(call, server);
  const byeDone = caller.bye(call, server);
  const bye = await waitFor('BYE on the flow', () => phone.got.find((m) => m.kind === 'request' && m.method === 'BYE'), (m) => m !== undefined) as SipRequest;
  phone.send(buildResponse(bye, 200, 'OK'));
  t.equal((await byeDone).status, 200, 'hung up');
  t.equal(dialedContact, 0, 'no connection was opened to the Contact');

  // The flow goes away: the phone is unreachable. Someone now listens where the flow came
  // from (as a NAT's public address may be reused): without flow-only sends the node would
  // connect there; it must not, nor dial the Contact.
  phone.socket.destroy();
  let dialedFlowAddress = 0;
  const flowTrap = await trap(flowPort!, () => dialedFlowAddress++);
  t.teardown(() => new Promise<void>((r) => flowTrap.close(() => r())));
  await waitFor(`${dn} READY again`, () => readAgent(cluster, dn), (a) => a.status.state === 'READY');
  await waitFor('view READY', () => node.view.get(dn), (a) => a?.status.state === 'READY');
  const call2 = caller.call(server, '5400');
  const metrics = async (): Promise<string> => (await node.app.inject({ method: 'GET', url: '/metrics', headers: { authorization: `Bearer ${config.tokens.read}` } })).body;
  await waitFor('the INVITE to the closed flow failed', metrics, (m) => /ringfence_sip_reroutes_total\{reason="failed",node="sip1"\} 1\n/.test(m));
  caller.cancel(call2, server);
  t.equal(dialedContact, 0, 'still no connection to the Contact');
  t.equal(dialedFlowAddress, 0, 'nor to the closed flow\'s address (FLOW_GONE, no new connection)');
});
