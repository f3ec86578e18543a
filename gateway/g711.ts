// G.711 µ-law (PCMU, payload type 0) and A-law (PCMA, payload type 8) encoding and
// decoding of 16-bit linear samples, per ITU-T G.711 (the segment/bias method of the
// reference implementation). Prompts are encoded once at load time, never per packet.
// Pure.

export const PT_PCMU = 0;
export const PT_PCMA = 8;

const BIAS = 0x84;
const CLIP = 32635;

export function linearToUlaw(sample: number): number {
  let s = Math.max(-32768, Math.min(32767, Math.round(sample)));
  const sign = s < 0 ? 0x80 : 0;
  if (s < 0) s = -s;
  if (s > CLIP) s = CLIP;
  s += BIAS;
  let exponent = 7;
  for (let mask = 0x4000; (s & mask) === 0 && exponent > 0; mask >>= 1) exponent--;
  const mantissa = (s >> (exponent + 3)) & 0x0f;
  return ~(sign | (exponent << 4) | mantissa) & 0xff;
}

export function ulawToLinear(byte: number): number {
  const u = ~byte & 0xff;
  const exponent = (u >> 4) & 0x07;
  const mantissa = u & 0x0f;
  const magnitude = (((mantissa << 3) + BIAS) << exponent) - BIAS;
  return (u & 0x80) !== 0 ? -magnitude : magnitude;
}

export function linearToAlaw(sample: number): number {
  let s = Math.max(-32768, Math.min(32767, Math.round(sample)));
  const sign = s >= 0 ? 0x80 : 0;
  if (s < 0) s = -s - 1;
  s >>= 3; // 13-bit magnitude
  let out: number;
  if (s < 32) out = s >> 1;
  else {
    let seg = 1;
    while (seg < 7 && s >= 32 << seg) seg++;
    out = (seg << 4) | ((s >> seg) & 0x0f);
  }
  return (sign | out) ^ 0x55;
}

export function alawToLinear(byte: number): number {
  const a = byte ^ 0x55;
  const seg = (a >> 4) & 0x07;
  let mag = (a & 0x0f) << 4;
  mag = seg === 0 ? mag + 8 : ((mag + 0x108) << (seg - 1));
  return (a & 0x80) !== 0 ? mag : -mag;
}

/** One encoded silence byte: what a muted 20 ms frame is filled with. */
export const SILENCE_BYTE: Readonly<Record<number, number>> = { [PT_PCMU]: 0xff, [PT_PCMA]: 0xd5 };

export function encode(samples: Int16Array, payloadType: number): Buffer {
  const out = Buffer.allocUnsafe(samples.length);
  const f = payloadType === PT_PCMU ? linearToUlaw : linearToAlaw;
  for (let i = 0; i < samples.length; i++) out[i] = f(samples[i]!);
  return out;
}

export function decode(bytes: Uint8Array, payloadType: number): Int16Array {
  const out = new Int16Array(bytes.length);
  const f = payloadType === PT_PCMU ? ulawToLinear : alawToLinear;
  for (let i = 0; i < bytes.length; i++) out[i] = f(bytes[i]!);
  return out;
}
