// The heap under both deterministic clocks: whatever is pushed and popped in whatever
// order, pops come out earliest first, equal times in push order — the property that
// makes a simulation's run a pure function of its seed.
import fc from 'fast-check';
import t from 'tap';
import { DueHeap } from '../../common/due-heap.js';

type Item = { dueMs: number; seq: number };

t.test('pops match a sorted model under any interleaving of pushes and pops', async (t) => {
  const op = fc.oneof(fc.record({ push: fc.integer({ min: 0, max: 20 }) }), fc.constant({ pop: true as const }));
  fc.assert(
    fc.property(fc.array(op, { maxLength: 300 }), (ops) => {
      const heap = new DueHeap<Item>();
      let model: Item[] = [];
      let seq = 0;
      for (const o of ops) {
        if ('push' in o) {
          const item = { dueMs: o.push, seq: seq++ };
          heap.push(item);
          model.push(item);
          model = model.sort((a, b) => a.dueMs - b.dueMs || a.seq - b.seq);
        } else {
          const expected = model.shift();
          if (heap.pop() !== expected) return false;
        }
        if (heap.size !== model.length || heap.peek() !== model[0]) return false;
      }
      return true;
    }),
    { numRuns: 500 },
  );
  t.pass('500 random runs agree with the model');
});

t.test('an empty heap peeks and pops undefined', async (t) => {
  const heap = new DueHeap<Item>();
  t.equal(heap.peek(), undefined);
  t.equal(heap.pop(), undefined);
  heap.push({ dueMs: 5, seq: 0 });
  t.same(heap.pop(), { dueMs: 5, seq: 0 });
  t.equal(heap.pop(), undefined);
  t.equal(heap.size, 0);
});
