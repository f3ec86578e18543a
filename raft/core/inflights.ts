// The window of append messages a leader has sent to one follower in replicate state and
// not yet seen acknowledged: a fixed-size ring of (last index, bytes) in send order, so
// pipelining is bounded and an ack frees every message up to its index at once.
import assert from 'node:assert';

export class Inflights {
  private readonly indexes: number[];
  private readonly sizes: number[];
  private start = 0;
  private countNow = 0;
  private bytesNow = 0;

  constructor(readonly capacity: number) {
    assert(Number.isInteger(capacity) && capacity > 0, 'inflights capacity must be a positive integer');
    this.indexes = new Array<number>(capacity).fill(0);
    this.sizes = new Array<number>(capacity).fill(0);
  }

  get count(): number {
    return this.countNow;
  }

  get bytes(): number {
    return this.bytesNow;
  }

  full(): boolean {
    return this.countNow === this.capacity;
  }

  /** Records a sent append whose last entry is `index`; indexes must increase. */
  add(index: number, bytes: number): void {
    assert(!this.full(), 'inflights: add to a full window');
    if (this.countNow > 0) {
      const lastIndex = this.indexes[(this.start + this.countNow - 1) % this.capacity]!;
      if (!(index > lastIndex)) assert.fail(`inflights: index ${index} not above ${lastIndex}`);
    }
    const slot = (this.start + this.countNow) % this.capacity;
    this.indexes[slot] = index;
    this.sizes[slot] = bytes;
    this.countNow += 1;
    this.bytesNow += bytes;
  }

  /** Frees every in-flight message whose last index is ≤ `index` (an ack covers them). */
  freeLE(index: number): void {
    while (this.countNow > 0 && this.indexes[this.start]! <= index) {
      this.bytesNow -= this.sizes[this.start]!;
      this.start = (this.start + 1) % this.capacity;
      this.countNow -= 1;
    }
    if (this.countNow === 0) this.start = 0;
  }

  reset(): void {
    this.start = 0;
    this.countNow = 0;
    this.bytesNow = 0;
  }
}
