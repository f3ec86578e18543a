// Loaded into every test process (package.json tap node-arg): fast-check properties run
// from one fixed seed so that CI is repeatable and a failure reproduces on any machine.
// Explore other seeds with FC_SEED=<n> npm test; a failure prints its seed and path.

import fc from 'fast-check';

const raw = process.env.FC_SEED ?? '20261126';
const seed = Number(raw);
if (!Number.isSafeInteger(seed)) throw new Error(`FC_SEED must be an integer, got ${JSON.stringify(raw)}`);
fc.configureGlobal({ seed });
