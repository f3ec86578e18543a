// Transaction-layer counters, exported by the SIP node as metrics.

import type { TxKind } from './types.js';

export type TransactionCounters = {
  created: Record<TxKind, number>;
  /** Live transactions at the time of the snapshot. */
  active: number;
  retransmissionsSent: number;
  /** Request/response retransmissions swallowed by a transaction. */
  retransmissionsAbsorbed: number;
  timeouts: number;
  transportErrors: number;
  /** Responses matching no client transaction (dropped, RFC 6026 §8.4). */
  strayResponses: number;
  /** ACKs matching no server transaction (ACKs for 2xx), passed to the TU. */
  strayAcks: number;
  /** Requests without a top Via we can key on. */
  unmatchable: number;
  rejectedOverLimit: number;
  /** Requests sent over TCP instead of UDP because of their size. */
  movedToTcp: number;
};

export function createTxCounters(): TransactionCounters {
  return {
    created: { 'invite-client': 0, 'non-invite-client': 0, 'invite-server': 0, 'non-invite-server': 0 },
    active: 0,
    retransmissionsSent: 0,
    retransmissionsAbsorbed: 0,
    timeouts: 0,
    transportErrors: 0,
    strayResponses: 0,
    strayAcks: 0,
    unmatchable: 0,
    rejectedOverLimit: 0,
    movedToTcp: 0,
  };
}
