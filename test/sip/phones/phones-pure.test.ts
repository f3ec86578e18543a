// Proves the phones' pure parts against published vectors and edge cases: the digest
// response matches RFC 2617 §3.5 (MD5) and RFC 7616 §3.9.1 (SHA-256) examples, challenge
// selection prefers the asked algorithm and rejects what we cannot answer, DN ranges and
// per-DN behaviours parse (and bad ones name the problem), and the SDP answer picks the
// first offered G.711 codec with our own address, or nothing when there is none.
import t from 'tap';
import { digestAuthorization, pickChallenge } from '../../../sip/phones/digest-client.js';
import { parseBehaviours, parseDnList } from '../../../sip/phones/phone-spec.js';
import { sdpAnswer } from '../../../sip/phones/sdp-answer.js';
import { parseDigestParams } from '../../../sip/syntax/index.js';

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
