// Proves the NAT policy of sip/node/nat-binding.ts case by case (Kamailio nat_uac_test
// flags 1, 2 and 16; RFC 5626 over TCP only), where a binding's calls go from this node and
// from another, and that the shard stores `received` with a binding only when there is one,
// so bindings without it are the same bytes as before the field existed.

import t from 'tap';
import { bindingTarget, isPrivateAddress, natDecision, type NatInput } from '../../../sip/node/nat-binding.js';
import { register } from '../../../shards/agent-ops.js';
import { decodeProposal, encodeProposal } from '../../../shards/commands.js';
import type { Agent } from '../../../shards/types.js';

const udpFrom = (host: string, port: number) => ({ protocol: 'UDP' as const, host, port });
const input = (over: Partial<NatInput>): NatInput => ({
  contact: '<sip:1001@192.168.1.20:5060>',
  topVia: 'SIP/2.0/UDP 192.168.1.20:5060;branch=z9hG4bKx;rport=40312;received=203.0.113.9',
  supported: [],
  source: udpFrom('203.0.113.9', 40312),
  nodeId: 'sip1',
  ...over,
});

t.test('private and shared addresses', async (t) => {
  for (const a of ['10.1.2.3', '172.16.0.1', '172.31.255.254', '192.168.0.1', '100.64.0.1', '169.254.1.1', 'fd00::1', '[fe80::1]']) t.ok(isPrivateAddress(a), a);
  for (const a of ['203.0.113.9', '172.32.0.1', '100.128.0.1', '127.0.0.1', '2001:db8::1', 'phone.example.com']) t.notOk(isPrivateAddress(a), a);
});

t.test('a phone behind a NAT: private Contact, Via naming it, request from the NAT', async (t) => {
  const d = natDecision(input({}));
  t.same(d, { received: { protocol: 'UDP', host: '203.0.113.9', port: 40312, node: 'sip1', connection: null, outbound: false }, outbound: false });
});

t.test('flag 1 alone: a private Contact, though the Via names the source', async (t) => {
  const d = natDecision(input({ topVia: 'SIP/2.0/UDP 203.0.113.9:40312;branch=z9hG4bKx' }));
  t.equal(d.received?.host, '203.0.113.9');
});

t.test('flag 2 alone: a public-looking Contact, but the Via host is not the source', async (t) => {
  const d = natDecision(input({ contact: '<sip:1001@198.51.100.4:5060>', topVia: 'SIP/2.0/UDP 198.51.100.4:5060;branch=z9hG4bKx;received=203.0.113.9' }));
  t.equal(d.received?.port, 40312);
});

t.test('flag 16: rport asked and the source port differs from the Via port', async (t) => {
  const d = natDecision(input({ contact: '<sip:1001@203.0.113.9:5060>', topVia: 'SIP/2.0/UDP 203.0.113.9:5060;branch=z9hG4bKx;rport=40312' }));
  t.same(d.received && [d.received.host, d.received.port], ['203.0.113.9', 40312]);
  const noRport = natDecision(input({ contact: '<sip:1001@203.0.113.9:5060>', topVia: 'SIP/2.0/UDP 203.0.113.9:5060;branch=z9hG4bKx' }));
  t.equal(noRport.received, null, 'without rport a port difference is a phone that listens elsewhere: left alone');
  const tcp = natDecision(input({ contact: '<sip:1001@203.0.113.9:5060;transport=tcp>', topVia: 'SIP/2.0/TCP 203.0.113.9:5060;branch=z9hG4bKx;rport=40312', source: { protocol: 'TCP', host: '203.0.113.9', port: 40312, connectionId: 'tcp-1' } }));
  t.equal(tcp.received, null, 'over TCP the source port is ephemeral: a port difference alone is no NAT');
});

t.test('no NAT: Contact, Via and source agree (loopback tests, LAN phones)', async (t) => {
  const d = natDecision(input({ contact: '<sip:1001@127.0.0.1:5070>', topVia: 'SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bKx;rport=5070', source: udpFrom('127.0.0.1', 5070) }));
  t.same(d, { received: null, outbound: false });
  const lan = natDecision(input({ contact: '<sip:1001@192.168.1.20:5060>', topVia: 'SIP/2.0/UDP 192.168.1.20:5060;branch=z9hG4bKx', source: udpFrom('192.168.1.20', 5060) }));
  t.equal(lan.received, null, 'a private Contact that is the source itself (same LAN) is reachable as is');
});

t.test('RFC 5626 over TCP binds the flow; over UDP it is plain NAT handling', async (t) => {
  const contact = '<sip:1001@192.168.1.20:5060;transport=tcp;ob>;reg-id=1;+sip.instance="<urn:uuid:00000000-0000-1000-8000-000000000001>"';
  const tcp = natDecision(input({ contact, supported: ['path', 'Outbound'], source: { protocol: 'TCP', host: '203.0.113.9', port: 50000, connectionId: 'tcp-4' } }));
  t.same(tcp, { received: { protocol: 'TCP', host: '203.0.113.9', port: 50000, node: 'sip1', connection: 'tcp-4', outbound: true }, outbound: true });
  const noSupported = natDecision(input({ contact, source: { protocol: 'TCP', host: '203.0.113.9', port: 50000, connectionId: 'tcp-4' } }));
  t.equal(noSupported.outbound, false, 'no Supported: outbound, no flow');
  const udp = natDecision(input({ contact, supported: ['outbound'] }));
  t.same([udp.outbound, udp.received?.protocol], [false, 'UDP'], 'UDP: no Require: outbound (we answer no STUN), NAT handling still');
});

t.test('where calls to a binding go', async (t) => {
  t.same(bindingTarget({ uri: 'sip:1001@198.51.100.4:5062;transport=tcp' }, 'sip1'), { protocol: 'TCP', host: '198.51.100.4', port: 5062 }, 'no received: the Contact');
  const nat = { protocol: 'UDP' as const, host: '203.0.113.9', port: 40312, node: 'sip1', connection: null, outbound: false };
  t.same(bindingTarget({ uri: 'sip:1001@10.0.0.2', received: nat }, 'sip2'), { protocol: 'UDP', host: '203.0.113.9', port: 40312 }, 'UDP NAT: the source, from any node');
  const flow = { ...nat, protocol: 'TCP' as const, connection: 'tcp-4', outbound: true };
  t.same(bindingTarget({ uri: 'sip:1001@10.0.0.2', received: flow }, 'sip1'), { protocol: 'TCP', host: '203.0.113.9', port: 40312, connectionId: 'tcp-4', flowOnly: true }, 'a flow: only that connection');
  t.equal(bindingTarget({ uri: 'sip:1001@10.0.0.2', received: flow }, 'sip2'), null, 'another node cannot use the flow');
  const tcpNat = { ...flow, outbound: false };
  t.same(bindingTarget({ uri: 'sip:1001@10.0.0.2', received: tcpNat }, 'sip1'), { protocol: 'TCP', host: '203.0.113.9', port: 40312, connectionId: 'tcp-4' }, 'TCP NAT: the connection while open, else its address');
});

t.test('the shard stores received only when given, and it survives encoding', async (t) => {
  const agent = { dn: '1001', contacts: [], version: 1 } as unknown as Agent;
  const plain = register(agent, { type: 'register', dn: '1001', uri: 'sip:1001@10.0.0.2', expiresMs: 60_000, q: 1, callId: 'c', cseq: 1, received: null }, 1000, 2);
  const plainBinding = 'agent' in plain ? plain.agent?.contacts[0] : undefined;
  t.ok(plainBinding !== undefined && !('received' in plainBinding), 'no received field at all');
  const received = { protocol: 'UDP' as const, host: '203.0.113.9', port: 40312, node: 'sip1', connection: null, outbound: false };
  const cmd = { type: 'register' as const, dn: '1001', uri: 'sip:1001@10.0.0.2', expiresMs: 60_000, q: 1, callId: 'c', cseq: 2, received };
  const decoded = decodeProposal(encodeProposal({ session: null, command: cmd }));
  t.ok(decoded.ok);
  if (!decoded.ok) return;
  const natted = register(agent, decoded.proposal.command as typeof cmd, 1000, 3);
  t.same('agent' in natted ? natted.agent?.contacts[0]?.received : undefined, received);
});
