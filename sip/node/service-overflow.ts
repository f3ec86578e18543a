// Where a queued caller goes when its service's queue is full (maxQueueLength, enforced by
// the queue's shard at enqueue) or its maximum wait (maxWaitMs) is over: the service's
// `overflow` — another service's queue, the caller's leg kept; or a final 480/486/503 whose
// reason phrase says why. Without an overflow the node's old answers stand: 503 for a full
// queue, 480 for a wait that ran out. Pure: call-queueing.ts acts on the decision.

import type { ServiceDefinition } from '../../common/config.js';

export type OverflowCause = 'queue-full' | 'max-wait';

export type OverflowAction =
  | Readonly<{ type: 'end'; outcome: 'queue-full' | 'queue-timeout'; status: number; reason: string }>
  | Readonly<{ type: 'move'; to: ServiceDefinition }>;

/** Two services overflowing into each other would move a caller for ever. */
export const overflowHopsMax = 3;

const phrases: Readonly<Record<number, string>> = { 480: 'Temporarily Unavailable', 486: 'Busy Here', 503: 'Service Unavailable' };
const why: Readonly<Record<OverflowCause, string>> = { 'queue-full': 'queue full', 'max-wait': 'maximum wait reached' };

export function overflowAction(def: ServiceDefinition | undefined, cause: OverflowCause, hops: number, lookup: (number: string) => ServiceDefinition | undefined): OverflowAction {
  const outcome = cause === 'queue-full' ? 'queue-full' : 'queue-timeout';
  const end = (status: number, detail = why[cause]): OverflowAction => ({ type: 'end', outcome, status, reason: `${phrases[status] ?? 'Unavailable'} (${detail})` });
  const target = def?.overflow ?? null;
  // No overflow: the answers the node gave before services had one, phrases unchanged.
  if (target === null) return cause === 'queue-full' ? { type: 'end', outcome, status: 503, reason: 'Service Unavailable' } : { type: 'end', outcome, status: 480, reason: 'Temporarily Unavailable' };
  if ('status' in target) return end(target.status);
  const to = lookup(target.service);
  if (to === undefined) return end(480, `${why[cause]}; overflow service ${target.service} is not defined`);
  if (hops >= overflowHopsMax) return end(480, `${why[cause]}; overflowed ${hops} times`);
  return { type: 'move', to };
}
