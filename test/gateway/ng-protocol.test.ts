// Proves the ng framing and the SDP rewriting as a client would see them: a cookie and a
// bencoded dictionary round-trip, malformed datagrams are typed errors, the reply cache
// answers by cookie within its bounds (count and age); an offer SDP gets the gateway's
// address and port in c=/m= and a=rtcp, loses its ICE attributes and extra m= lines,
// and yields the endpoint's own media address; bad SDP is a typed error.

import t from 'tap';
import { GatewayErrorCode } from '../../gateway/errors.js';
import { formatNgMessage, parseNgMessage, peekCookie, ReplyCache } from '../../gateway/ng-protocol.js';
import { rewriteSdp } from '../../gateway/sdp-rewrite.js';

t.test('framing', async (t) => {
  const msg = formatNgMessage('abc_1', { command: 'ping' });
  t.equal(msg.toString(), 'abc_1 d7:command4:pinge');
  t.same(parseNgMessage(msg), { cookie: 'abc_1', body: { command: 'ping' } });
  t.same(parseNgMessage(Buffer.from('c d7:command4:pinge\n')).body, { command: 'ping' }, 'trailing newline tolerated');
  t.throws(() => parseNgMessage(Buffer.from('nocookie')), { code: GatewayErrorCode.NG_MALFORMED });
  t.throws(() => parseNgMessage(Buffer.from('c l4:pinge')), { code: GatewayErrorCode.NG_MALFORMED }, 'body must be a dict');
  t.throws(() => parseNgMessage(Buffer.from('c d7:command4:pi')), { code: GatewayErrorCode.BENCODE_MALFORMED });
  t.equal(peekCookie(Buffer.from('c7 garbage')), 'c7');
});

t.test('reply cache', async (t) => {
  const c = new ReplyCache(2, 1000);
  const r1 = Buffer.from('1');
  c.put('a', r1, 0);
  c.put('b', Buffer.from('2'), 0);
  t.equal(c.get('a', 10), r1);
  c.put('c', Buffer.from('3'), 0);
  t.equal(c.get('a', 10), undefined, 'oldest evicted beyond the count bound');
  t.equal(c.size, 2);
  t.equal(c.get('b', 1001), undefined, 'expired past the age bound');
});

const offer = [
  'v=0',
  'o=alice 2890844526 2890844526 IN IP4 192.0.2.10',
  's=-',
  'c=IN IP4 192.0.2.10',
  't=0 0',
  'a=ice-ufrag:F7gI',
  'a=ice-pwd:x9cml/YzichV2+XlhiMu8g',
  'm=audio 49170 RTP/AVP 8 101',
  'c=IN IP4 198.51.100.7',
  'a=rtpmap:8 PCMA/8000',
  'a=rtpmap:101 telephone-event/8000',
  'a=rtcp:49181',
  'a=candidate:1 1 UDP 2130706431 198.51.100.7 49170 typ host',
  'a=sendrecv',
  'm=video 51372 RTP/AVP 31',
  'a=rtpmap:31 H261/90000',
  '',
].join('\r\n');

t.test('sdp rewrite', async (t) => {
  const r = rewriteSdp(offer, { ip: '203.0.113.5', rtpPort: 30010, replaceOrigin: false });
  t.same(r.endpoint, { ip: '198.51.100.7', rtpPort: 49170, rtcpPort: 49181, clockRateHz: 8000, payloadTypes: [8, 101] }, 'media-level c= wins');
  t.match(r.sdp, /^c=IN IP4 203\.0\.113\.5\r$/m);
  t.match(r.sdp, /^m=audio 30010 RTP\/AVP 8 101\r$/m);
  t.match(r.sdp, /^a=rtcp:30011 IN IP4 203\.0\.113\.5\r$/m);
  const only = rewriteSdp(offer, { ip: '203.0.113.5', rtpPort: 30010, replaceOrigin: false, onlyPayloadType: 8 });
  t.match(only.sdp, /^m=audio 30010 RTP\/AVP 8 101\r$/m, 'onlyPayloadType keeps one codec and telephone-event');
  const noDtmf = rewriteSdp(offer.replace('a=rtpmap:101 telephone-event/8000', 'a=rtpmap:101 opus/48000/2'), { ip: '203.0.113.5', rtpPort: 30010, replaceOrigin: false, onlyPayloadType: 8 });
  t.match(noDtmf.sdp, /^m=audio 30010 RTP\/AVP 8\r$/m, 'and drops every other codec');
  t.notMatch(noDtmf.sdp, /opus/, 'with its rtpmap line');
  t.match(r.sdp, /^m=video 0 /m, 'un-anchored media disabled');
  t.notMatch(r.sdp, /candidate|ice-ufrag|ice-pwd|198\.51\.100\.7/);
  t.match(r.sdp, /^o=alice .* 192\.0\.2\.10\r$/m, 'origin kept unless asked');
  t.match(r.sdp, /a=rtpmap:101 telephone-event\/8000/, 'codecs untouched');
  const o = rewriteSdp(offer, { ip: '203.0.113.5', rtpPort: 30010, replaceOrigin: true });
  t.match(o.sdp, /^o=alice .* 203\.0\.113\.5\r$/m);
  const hold = rewriteSdp(offer.replace(/198\.51\.100\.7/g, '0.0.0.0'), { ip: '203.0.113.5', rtpPort: 30010, replaceOrigin: false });
  t.equal(hold.endpoint.ip, null, 'a hold address is no address');
  t.throws(() => rewriteSdp('hello', { ip: '1.2.3.4', rtpPort: 30000, replaceOrigin: false }), { code: GatewayErrorCode.SDP_INVALID });
  t.throws(() => rewriteSdp('v=0\r\ns=-\r\n', { ip: '1.2.3.4', rtpPort: 30000, replaceOrigin: false }), { code: GatewayErrorCode.SDP_INVALID });
});
