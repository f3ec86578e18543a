// Proves the phones' pure parts against published vectors and edge cases: the digest
// response matches RFC 2617 §3.5 (MD5) and RFC 7616 §3.9.1 (SHA-256) examples, challenge
// selection prefers the asked algorithm and rejects what we cannot answer, DN ranges and
// per-DN behaviours parse (and bad ones name the problem), and the SDP answer picks the
// first offered G.711 codec with our own address, or nothing when there is none. The
// phone's in-dialog requests follow RFC 3261 §12.2.1.1 (remote target, loose and strict
// route sets, swapped From/To with our tag), and a probe's answer is judged as §12.2.1.2
// says: 481, 408, a timeout or a transport error end the dialog, any other final does not.
import t from 'tap';
import { digestAuthorization, pickChallenge } from '../../../sip/phones/digest-client.js';
import { parseBehaviours, parseDnList } from '../../../sip/phones/phone-spec.js';
import { sdpAnswer } from '../../../sip/phones/sdp-answer.js';
import { buildInDialogRequest, remoteTargetOf } from '../../../sip/phones/dialog-request.js';
import { probeVerdict } from '../../../sip/phones/dialog-probe.js';
import { buildResponse, getHeader, getHeaders, parseDigestParams, type SipRequest } from '../../../sip/syntax/index.js';

t.test('digest responses match the RFC examples', async (tt) => {
  const md5 = pickChallenge(['Digest realm="testrealm@host.com", qop="auth,auth-int", nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", opaque="5ccc069c403ebaf9f0171e9517f40e41"'], 'MD5');
  const a = parseDigestParams(digestAuthorization({ challenge: md5, method: 'GET', uri: '/dir/index.html', user: 'Mufasa', password: 'Circle Of Life', nc: 1, cnonce: '0a4f113b' }))!;
  tt.equal(a.params['response'], '6629fae49393a05397450978507c4ef1');
  tt.equal(a.params['nc'], '00000001');
  tt.equal(a.params['opaque'], '5ccc069c403ebaf9f0171e9517f40e41');
  const sha = pickChallenge([
    'Digest realm="http-auth@example.org", qop="auth, auth-int", algorithm=MD5, nonce="7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v", opaque="FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS"',
    'Digest realm="http-auth@example.org", qop="auth, auth-int", algorithm=SHA-256, nonce="7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v", opaque="FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS"',
  ], 'SHA-256');
  tt.equal(sha.algorithm, 'SHA-256');
  const b = parseDigestParams(digestAuthorization({ challenge: sha, method: 'GET', uri: '/dir/index.html', user: 'Mufasa', password: 'Circle of Life', nc: 1, cnonce: 'f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ' }))!;
  tt.equal(b.params['response'], '753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1');
  tt.equal(b.params['algorithm'], 'SHA-256');
});

t.test('challenge selection', async (tt) => {
  tt.equal(pickChallenge(['Digest realm="r", nonce="n", algorithm=MD5'], 'SHA-256').algorithm, 'MD5', 'falls back to what is offered');
  tt.equal(pickChallenge(['Digest realm="r", nonce="n"'], 'SHA-256').qop, undefined, 'RFC 2069 style without qop');
  tt.equal(pickChallenge(['Digest realm="r", nonce="n", stale=TRUE'], 'MD5').stale, true);
  tt.throws(() => pickChallenge(['Digest realm="r", nonce="n", algorithm=SHA-512-256'], 'MD5'), { code: 'PHONES_ERR_CHALLENGE_UNSUPPORTED' });
  tt.throws(() => pickChallenge(['Basic realm="r"'], 'MD5'), { code: 'PHONES_ERR_CHALLENGE_UNSUPPORTED' });
  tt.throws(() => pickChallenge(['Digest realm="r", nonce="n", qop="auth-int"'], 'MD5'), { code: 'PHONES_ERR_CHALLENGE_UNSUPPORTED' });
});

t.test('DN lists and behaviours', async (tt) => {
  tt.same(parseDnList('1001-1003,1010'), ['1001', '1002', '1003', '1010']);
  tt.same(parseDnList('0098-0100'), ['0098', '0099', '0100'], 'leading zeros kept');
  tt.throws(() => parseDnList('1003-1001'), { code: 'PHONES_ERR_BAD_SPEC' });
  tt.throws(() => parseDnList('10a1'), { code: 'PHONES_ERR_BAD_SPEC' });
  tt.throws(() => parseDnList('1001,1001'), { code: 'PHONES_ERR_BAD_SPEC' });
  const dns = parseDnList('1001-1006');
  const b = parseBehaviours('answer,busy:1002-1003,no-answer:1005,1006', dns);
  tt.same([...b.values()], ['answer', 'busy', 'busy', 'answer', 'no-answer', 'no-answer']);
  tt.same([...parseBehaviours('busy', dns).values()], Array(6).fill('busy'));
  tt.throws(() => parseBehaviours('ring', dns), { code: 'PHONES_ERR_BAD_SPEC' });
  tt.throws(() => parseBehaviours('answer,busy:2001', dns), { code: 'PHONES_ERR_BAD_SPEC' }, 'DN outside --dns');
});

t.test('SDP answer', async (tt) => {
  const offer = (m: string, extra: string[] = []): string => ['v=0', 'o=- 1 1 IN IP4 10.0.0.1', 's=-', 'c=IN IP4 10.0.0.1', 't=0 0', m, ...extra, ''].join('\r\n');
  const a = sdpAnswer({ offer: offer('m=audio 4000 RTP/AVP 8 0 101', ['a=rtpmap:101 telephone-event/8000', 'a=sendonly']), host: '127.0.0.1', rtpPort: 5002, sessionId: 7, version: 1 })!;
  tt.match(a, /^m=audio 5002 RTP\/AVP 8 101\r$/m, 'first offered G.711 (PCMA) plus DTMF');
  tt.match(a, /^c=IN IP4 127\.0\.0\.1\r$/m);
  tt.match(a, /^a=rtpmap:8 PCMA\/8000\r$/m);
  tt.match(a, /^a=recvonly\r$/m, 'sendonly offer gets a recvonly answer');
  tt.equal(sdpAnswer({ offer: offer('m=audio 4000 RTP/AVP 9', ['a=rtpmap:9 G722/8000']), host: '127.0.0.1', rtpPort: 1, sessionId: 1, version: 1 }), null, 'no G.711: nothing to agree');
  tt.equal(sdpAnswer({ offer: offer('m=video 4000 RTP/AVP 96'), host: '127.0.0.1', rtpPort: 1, sessionId: 1, version: 1 }), null, 'no audio');
  tt.equal(sdpAnswer({ offer: 'garbage', host: '127.0.0.1', rtpPort: 1, sessionId: 1, version: 1 }), null);
});

t.test('in-dialog requests of the phone (UAS side)', async (tt) => {
  const invite = (recordRoute: string[]): SipRequest => ({
    kind: 'request', method: 'INVITE', uri: 'sip:1001@10.0.0.2:5062', body: new Uint8Array(0),
    headers: [
      { name: 'Via', value: 'SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKx' },
      ...recordRoute.map((value) => ({ name: 'Record-Route', value })),
      { name: 'From', value: '<sip:5000@10.0.0.1>;tag=abc' },
      { name: 'To', value: '<sip:1001@10.0.0.2:5062>' },
      { name: 'Call-ID', value: 'call-1' },
      { name: 'CSeq', value: '7 INVITE' },
      { name: 'Contact', value: '<sip:b2bua@10.0.0.1:5070>' },
    ],
  });
  const direct = invite([]);
  tt.equal(remoteTargetOf(direct), 'sip:b2bua@10.0.0.1:5070');
  tt.equal(remoteTargetOf({ ...direct, headers: direct.headers.filter((h) => h.name !== 'Contact') }), null);
  const d = buildInDialogRequest({ invite: direct, localTag: 'mytag', remoteTarget: 'sip:b2bua@10.0.0.1:5070' }, 'OPTIONS', 3)!;
  tt.equal(d.request.uri, 'sip:b2bua@10.0.0.1:5070');
  tt.same(d.target, { protocol: 'UDP', host: '10.0.0.1', port: 5070 });
  tt.equal(getHeader(d.request, 'From'), '<sip:1001@10.0.0.2:5062>;tag=mytag');
  tt.equal(getHeader(d.request, 'To'), '<sip:5000@10.0.0.1>;tag=abc');
  tt.equal(getHeader(d.request, 'CSeq'), '3 OPTIONS');
  tt.same(getHeaders(d.request, 'Route'), []);

  const loose = buildInDialogRequest({ invite: invite(['<sip:p1.example:5080;lr>, <sip:p2.example;lr>']), localTag: 't', remoteTarget: 'sip:b2bua@10.0.0.1:5070' }, 'BYE', 1)!;
  tt.equal(loose.request.uri, 'sip:b2bua@10.0.0.1:5070', 'loose routing keeps the remote target');
  tt.same(getHeaders(loose.request, 'Route'), ['<sip:p1.example:5080;lr>', '<sip:p2.example;lr>'], 'route set in Record-Route order');
  tt.same(loose.target, { protocol: 'UDP', host: 'p1.example', port: 5080 }, 'sent to the first route');

  const strict = buildInDialogRequest({ invite: invite(['<sip:p1.example:5080>']), localTag: 't', remoteTarget: 'sip:b2bua@10.0.0.1:5070' }, 'BYE', 1)!;
  tt.equal(strict.request.uri, 'sip:p1.example:5080', 'a strict router goes in the Request-URI');
  tt.same(getHeaders(strict.request, 'Route'), ['<sip:b2bua@10.0.0.1:5070>'], 'the remote target becomes the last Route');
  tt.throws(() => buildInDialogRequest({ invite: direct, localTag: 't', remoteTarget: 'sip:x@h' }, 'BYE', 0), 'CSeq starts at 1');
});

t.test('what a probe answer says about the dialog', async (tt) => {
  const req: SipRequest = { kind: 'request', method: 'OPTIONS', uri: 'sip:x@h', body: new Uint8Array(0), headers: [{ name: 'Via', value: 'SIP/2.0/UDP h;branch=z9hG4bKy' }, { name: 'From', value: '<sip:a@h>;tag=1' }, { name: 'To', value: '<sip:b@h>;tag=2' }, { name: 'Call-ID', value: 'c' }, { name: 'CSeq', value: '1 OPTIONS' }] };
  const final = (status: number) => probeVerdict({ type: 'final', response: buildResponse(req, status, 'x'), retransmission: false });
  tt.same(final(200), { alive: true });
  tt.same(final(405), { alive: true }, 'a peer without OPTIONS is still there');
  tt.same(final(501), { alive: true });
  tt.same(final(491), { alive: true });
  tt.match(final(481), { alive: false, status: 481 });
  tt.match(final(408), { alive: false, status: 408 });
  tt.equal(probeVerdict({ type: 'provisional', response: buildResponse(req, 100, 'Trying') }), null, 'keep waiting');
  tt.match(probeVerdict({ type: 'timeout', timer: 'F' }), { alive: false, status: 408 });
  tt.match(probeVerdict({ type: 'transport-error', code: 'SIP_ERR_TRANSPORT_SEND_FAILED' }), { alive: false, status: 503 });
});
