// Length-prefixed frames over a byte stream (TCP): a 4-byte big-endian payload length,
// then the payload. Shared by the Raft peer transport and the shard client RPC. The
// decoder checks the announced length against a maximum before allocating anything,
// so a peer cannot make us buffer more than `frameBytesMax` per connection, and it
// copies each payload once into a buffer of exactly the announced size.

export const FRAME_HEADER_BYTES = 4;
/** The largest length the 4-byte header can announce. */
export const FRAME_LENGTH_LIMIT = 0xffff_ffff;

export type FrameErrorCode = 'FRAME_ERR_TOO_LARGE';

export class FrameError extends Error {
  readonly code: FrameErrorCode;
  constructor(code: FrameErrorCode, message: string) {
    super(message);
    this.name = 'FrameError';
    this.code = code;
  }
}

/** Header and payload in one buffer, ready for a single socket write. */
export function encodeFrame(payload: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(FRAME_HEADER_BYTES + payload.length);
  out.writeUInt32BE(payload.length, 0);
  out.set(payload, FRAME_HEADER_BYTES);
  return out;
}

/** Several frames concatenated into one buffer (batching many messages into one write). */
export function encodeFrames(payloads: readonly Uint8Array[]): Buffer {
  let total = 0;
  for (const p of payloads) total += FRAME_HEADER_BYTES + p.length;
  const out = Buffer.allocUnsafe(total);
  let at = 0;
  for (const p of payloads) {
    out.writeUInt32BE(p.length, at);
    out.set(p, at + FRAME_HEADER_BYTES);
    at += FRAME_HEADER_BYTES + p.length;
  }
  return out;
}

export class FrameDecoder {
  private readonly header = Buffer.alloc(FRAME_HEADER_BYTES);
  private headerFilled = 0;
  private frame: Buffer | null = null;
  private frameFilled = 0;

  /** `frameBytesMax` bounds one payload; it can be changed between pushes (e.g. a small
   * limit during a handshake, the full one after it). */
  constructor(public frameBytesMax: number) {}

  /** Feeds bytes from the stream; returns the payloads completed by them, in order.
   * Throws FrameError FRAME_ERR_TOO_LARGE when a header announces more than the maximum;
   * the stream is then unusable and the connection should be closed. */
  push(chunk: Uint8Array): Buffer[] {
    const out: Buffer[] = [];
    let at = 0;
    while (at < chunk.length) {
      if (this.frame === null) {
        const take = Math.min(FRAME_HEADER_BYTES - this.headerFilled, chunk.length - at);
        this.header.set(chunk.subarray(at, at + take), this.headerFilled);
        this.headerFilled += take;
        at += take;
        if (this.headerFilled < FRAME_HEADER_BYTES) break;
        const length = this.header.readUInt32BE(0);
        if (length > this.frameBytesMax) {
          throw new FrameError('FRAME_ERR_TOO_LARGE', `frame of ${length} bytes exceeds the maximum of ${this.frameBytesMax}`);
        }
        this.headerFilled = 0;
        this.frame = Buffer.allocUnsafe(length);
        this.frameFilled = 0;
      }
      const take = Math.min(this.frame.length - this.frameFilled, chunk.length - at);
      this.frame.set(chunk.subarray(at, at + take), this.frameFilled);
      this.frameFilled += take;
      at += take;
      if (this.frameFilled === this.frame.length) {
        out.push(this.frame);
        this.frame = null;
      }
    }
    // a zero-length frame completes as soon as its header does
    if (this.frame !== null && this.frame.length === 0) {
      out.push(this.frame);
      this.frame = null;
    }
    return out;
  }

  /** Bytes of an incomplete frame held right now (header included). */
  get bufferedBytes(): number {
    return this.headerFilled + (this.frame === null ? 0 : FRAME_HEADER_BYTES + this.frameFilled);
  }
}
