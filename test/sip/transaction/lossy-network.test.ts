// Proves, for random loss and delay patterns (fast-check, seeded: a failure prints its
// seed and replays), that one client transaction against one server transaction over the
// loop transport always ends cleanly: the client's TU gets exactly one outcome (the
// server TU's final status, or a 408 timeout, never both); the server's TU sees the
// request exactly once if any copy arrived (retransmissions absorbed) and never otherwise;
// with no loss the final always arrives; and after enough time both layers hold no
// transaction and no timer is left pending. Delays stay under T1 so every retransmission
// lands inside the server transaction's lifetime (the assumption behind J and H).

import fc from 'fast-check';
import t from 'tap';
import { buildResponse } from '../../../sip/syntax/index.js';
import { makeRequest } from './fixtures.js';
import { harness, isRequest, UAS } from './harness.js';

/** mulberry32: a tiny seeded PRNG so the loss pattern is a function of the seed. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let x = Math.imul(a ^ (a >>> 15), 1 | a);
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x;
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}

const scenario = fc.record({
  seed: fc.integer(),
  lossPct: fc.integer({ min: 0, max: 95 }),
  maxDelayMs: fc.integer({ min: 0, max: 499 }),
  method: fc.constantFrom('INVITE', 'OPTIONS'),
  status: fc.constantFrom(200, 404, 486),
  provisional: fc.boolean(),
});

t.test('one transaction pair under random loss and delay always ends cleanly', async (t) => {
  fc.assert(
    fc.property(scenario, (s) => {
      const h = harness();
      const random = rng(s.seed);
      h.net.filter = () => (random() * 100 < s.lossPct ? 'drop' : { delayMs: Math.floor(random() * (s.maxDelayMs + 1)) });
      h.onRequest = (tx, req) => {
        if (s.provisional) tx.respond(buildResponse(req, 180, 'Ringing', { toTag: 'u' }));
        tx.respond(buildResponse(req, s.status, 'X', { toTag: 'u' }));
      };
      h.send(makeRequest({ method: s.method, via: null }));
      h.clock.advance(400_000);
      const outcomes = h.events.filter((e) => (e.value.type === 'final' && !e.value.retransmission) || e.value.type === 'timeout');
      if (outcomes.length !== 1) return false;
      const o = outcomes[0]!.value;
      if (o.type === 'final' && o.response.status !== s.status) return false;
      if (o.type === 'timeout' && o.response?.status !== 408) return false;
      if (s.lossPct === 0 && o.type !== 'final') return false;
      const arrived = h.net.log.some((p) => isRequest(s.method)(p) && p.to.host === UAS.host) && h.net.delivered > 0;
      const copiesDelivered = h.requests.length;
      if (copiesDelivered > 1) return false;
      if (!arrived && copiesDelivered !== 0) return false;
      if (o.type === 'final' && copiesDelivered !== 1) return false;
      return h.uac.transactionCount() === 0 && h.uas.transactionCount() === 0 && h.clock.pendingCount() === 0;
    }),
    { numRuns: 300 },
  );
  t.pass('300 random runs held every invariant');
});
