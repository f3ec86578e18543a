// Proves the pcap generator the echo test feeds to SIPp writes what it claims: G.711
// µ-law samples match the standard's reference points, and the file parses back (by hand,
// the way libpcap and SIPp's prepare_pcap read it) into N Ethernet/IPv4/UDP/RTP frames,
// PCMU, 20 ms apart, with consecutive sequence numbers, 160-sample timestamp steps, one
// SSRC, valid IPv4 header checksums and no truncated record (SIPp refuses those).
import t from 'tap';
import { linearToUlaw, PCMU_PAYLOAD_TYPE, rtpPcap } from './rtp-pcap.js';

t.test('µ-law reference points', async (t) => {
  t.equal(linearToUlaw(0), 0xff, 'zero');
  t.equal(linearToUlaw(-1), 0x7f, 'minus one: negative zero segment');
  t.equal(linearToUlaw(32767), 0x80, 'positive full scale');
  t.equal(linearToUlaw(-32768), 0x00, 'negative full scale');
  const codes = [0, 100, 1000, 5000, 20000].map(linearToUlaw);
  t.same(codes, [...codes].sort((a, b) => b - a), 'positive magnitudes map to falling codes');
  t.not(new Set(codes).size, 1, 'distinct levels give distinct codes');
});

t.test('the pcap parses back into the RTP stream asked for', async (t) => {
  const spec = { packets: 25, intervalMs: 20, ssrc: 0xdeadbeef, firstSeq: 65530 };
  const b = rtpPcap(spec);
  t.equal(b.readUInt32LE(0), 0xa1b2c3d4, 'libpcap magic, microsecond timestamps');
  t.equal(b.readUInt32LE(20), 1, 'Ethernet link type');
  let off = 24;
  let n = 0;
  let firstUs = 0;
  for (; off < b.length; n++) {
    const us = b.readUInt32LE(off) * 1e6 + b.readUInt32LE(off + 4);
    const caplen = b.readUInt32LE(off + 8);
    t.equal(b.readUInt32LE(off + 12), caplen, 'not truncated');
    const f = b.subarray(off + 16, off + 16 + caplen);
    off += 16 + caplen;
    if (n === 0) firstUs = us;
    t.equal(us - firstUs, n * 20_000, '20 ms apart');
    t.equal(f.readUInt16BE(12), 0x0800, 'IPv4');
    const ip = f.subarray(14, 34);
    let sum = 0;
    for (let i = 0; i < 20; i += 2) sum += ip.readUInt16BE(i);
    while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
    t.equal(sum, 0xffff, 'IPv4 header checksum verifies');
    t.equal(ip[9], 17, 'UDP');
    const udpLen = f.readUInt16BE(34 + 4);
    t.equal(udpLen, caplen - 34, 'UDP length covers the rest of the frame');
    const rtp = f.subarray(42);
    t.equal(rtp[0]! >> 6, 2, 'RTP version 2');
    t.equal(rtp[1]! & 0x7f, PCMU_PAYLOAD_TYPE, 'PCMU');
    t.equal(rtp[1]! >> 7, n === 0 ? 1 : 0, 'marker on the first packet only');
    t.equal(rtp.readUInt16BE(2), (spec.firstSeq + n) & 0xffff, 'consecutive sequence numbers, wrapping');
    t.equal(rtp.readUInt32BE(4), n * 160, '160 samples per packet');
    t.equal(rtp.readUInt32BE(8), spec.ssrc, 'one SSRC');
    t.equal(rtp.length, 12 + 160, '160 bytes of payload');
  }
  t.equal(n, spec.packets, 'as many packets as asked');
  t.equal(off, b.length, 'no trailing bytes');
});

t.test('an interval that is not whole samples is refused', async (t) => {
  t.throws(() => rtpPcap({ packets: 1, intervalMs: 0.01, ssrc: 1, firstSeq: 0 }));
});
