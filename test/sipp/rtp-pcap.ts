// Writes a pcap of G.711 µ-law (PCMU) RTP for SIPp's <exec play_pcap_audio>: one RTP
// stream of `packets` packets, `intervalMs` apart, each carrying a 1 kHz tone in
// 8 kHz PCMU. Generated, not shipped, because 10 s of 20 ms packets is ~115 KB and the
// Debian g711a.pcap is PCMA of a length we do not control. SIPp replaces the UDP ports
// (source := the SDP's [media_port], destination := the peer's SDP port) and the IP
// addresses when it plays the file, so the ones written here only need to be valid.
// Pure apart from writeRtpPcap.
import { writeFileSync } from 'node:fs';
import { linearToUlaw } from '../../gateway/g711.js';

export { linearToUlaw };

export const PCMU_PAYLOAD_TYPE = 0;
const SAMPLE_RATE_HZ = 8000;
const TONE_HZ = 1000;
const PCAP_LINKTYPE_ETHERNET = 1;

export type RtpPcapSpec = Readonly<{
  packets: number;
  intervalMs: number;
  ssrc: number;
  /** Sequence number of the first packet (wraps at 2^16). */
  firstSeq: number;
}>;

/** Samples per packet at 8 kHz. */
export function samplesPerPacket(intervalMs: number): number {
  return (SAMPLE_RATE_HZ * intervalMs) / 1000;
}

function rtpPacket(spec: RtpPcapSpec, i: number, samples: number): Buffer {
  const b = Buffer.alloc(12 + samples);
  b[0] = 0x80; // V=2, no padding, no extension, no CSRC
  b[1] = (i === 0 ? 0x80 : 0) | PCMU_PAYLOAD_TYPE; // marker on the first packet of the talkspurt
  b.writeUInt16BE((spec.firstSeq + i) & 0xffff, 2);
  b.writeUInt32BE((i * samples) >>> 0, 4);
  b.writeUInt32BE(spec.ssrc >>> 0, 8);
  for (let n = 0; n < samples; n++) {
    const t = (i * samples + n) / SAMPLE_RATE_HZ;
    b[12 + n] = linearToUlaw(8000 * Math.sin(2 * Math.PI * TONE_HZ * t));
  }
  return b;
}

function ipv4Checksum(header: Buffer): number {
  let sum = 0;
  for (let i = 0; i < header.length; i += 2) sum += header.readUInt16BE(i);
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

/** Ethernet + IPv4 + UDP around one RTP packet (127.0.0.1:4000 → 127.0.0.1:6000; SIPp
 * rewrites ports and addresses). The UDP checksum is 0 (none); SIPp computes its own. */
function frame(rtp: Buffer, ipId: number): Buffer {
  const eth = Buffer.alloc(14);
  eth.writeUInt16BE(0x0800, 12);
  const udpLen = 8 + rtp.length;
  const ip = Buffer.alloc(20);
  ip[0] = 0x45;
  ip.writeUInt16BE(20 + udpLen, 2);
  ip.writeUInt16BE(ipId & 0xffff, 4);
  ip[8] = 64; // TTL
  ip[9] = 17; // UDP
  ip.writeUInt32BE(0x7f000001, 12);
  ip.writeUInt32BE(0x7f000001, 16);
  ip.writeUInt16BE(ipv4Checksum(ip), 10);
  const udp = Buffer.alloc(8);
  udp.writeUInt16BE(4000, 0);
  udp.writeUInt16BE(6000, 2);
  udp.writeUInt16BE(udpLen, 4);
  return Buffer.concat([eth, ip, udp, rtp]);
}

/** The pcap file's bytes (classic libpcap format, microsecond timestamps, Ethernet). */
export function rtpPcap(spec: RtpPcapSpec): Buffer {
  const samples = samplesPerPacket(spec.intervalMs);
  if (!Number.isInteger(samples) || samples <= 0) throw new Error(`intervalMs ${spec.intervalMs} is not a whole number of 8 kHz samples`);
  const head = Buffer.alloc(24);
  head.writeUInt32LE(0xa1b2c3d4, 0);
  head.writeUInt16LE(2, 4);
  head.writeUInt16LE(4, 6);
  head.writeUInt32LE(65535, 16); // snaplen
  head.writeUInt32LE(PCAP_LINKTYPE_ETHERNET, 20);
  const parts: Buffer[] = [head];
  for (let i = 0; i < spec.packets; i++) {
    const f = frame(rtpPacket(spec, i, samples), i);
    const atUs = i * spec.intervalMs * 1000;
    const rec = Buffer.alloc(16);
    rec.writeUInt32LE(1_700_000_000 + Math.floor(atUs / 1e6), 0);
    rec.writeUInt32LE(atUs % 1e6, 4);
    rec.writeUInt32LE(f.length, 8); // captured
    rec.writeUInt32LE(f.length, 12); // on the wire: equal, SIPp refuses truncated packets
    parts.push(rec, f);
  }
  return Buffer.concat(parts);
}

export function writeRtpPcap(path: string, spec: RtpPcapSpec): void {
  writeFileSync(path, rtpPcap(spec));
}
