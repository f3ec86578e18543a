// The run's fingerprint: every notable event is folded into a 64-bit hash (two 32-bit
// FNV-style lanes) together with its simulated time, and in verbose mode also kept as
// text. Two runs of one seed must end with the same hash; that is the determinism test.

export class Trace {
  private h1 = 0x811c9dc5;
  private h2 = 0x01000193;
  readonly lines: string[] | null;
  count = 0;

  constructor(verbose: boolean) {
    this.lines = verbose ? [] : null;
  }

  /** `text` is built only by callers that need it; the hash sees time and text. */
  record(timeMs: number, text: string): void {
    this.count++;
    let h1 = this.h1 ^ Math.round(timeMs * 1000);
    let h2 = this.h2 ^ Math.round(timeMs * 1000);
    for (let i = 0; i < text.length; i++) {
      const c = text.charCodeAt(i);
      h1 = Math.imul(h1 ^ c, 0x01000193);
      h2 = Math.imul(h2 ^ c, 0x5bd1e995) ^ (h2 >>> 15);
    }
    this.h1 = h1 >>> 0;
    this.h2 = h2 >>> 0;
    if (this.lines !== null) this.lines.push(`${timeMs.toFixed(3)} ${text}`);
  }

  hash(): string {
    return this.h1.toString(16).padStart(8, '0') + this.h2.toString(16).padStart(8, '0');
  }
}
