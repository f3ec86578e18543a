// Proves the in-flight append window: it fills to capacity in send order (wrapping around
// the ring), an ack frees every message up to its index, and misuse is an assert.
import t from 'tap';
import { Inflights } from '../../../raft/core/inflights.js';

t.test('fills, frees up to an index, and wraps around', async (t) => {
  const w = new Inflights(3);
  w.add(5, 10);
  w.add(7, 20);
  w.add(9, 30);
  t.ok(w.full());
  t.throws(() => w.add(11, 1), /full/);
  w.freeLE(7);
  t.equal(w.count, 1);
  t.equal(w.bytes, 30);
  w.add(12, 1);
  w.add(15, 2);
  t.ok(w.full(), 'wrapped around the ring');
  w.freeLE(4);
  t.equal(w.count, 3, 'an old ack frees nothing');
  w.freeLE(100);
  t.equal(w.count, 0);
  t.equal(w.bytes, 0);
});

t.test('indexes must increase; reset empties', async (t) => {
  const w = new Inflights(4);
  w.add(5, 1);
  t.throws(() => w.add(5, 1));
  w.reset();
  t.equal(w.count, 0);
  w.add(1, 1);
  t.equal(w.count, 1);
  t.throws(() => new Inflights(0));
});
