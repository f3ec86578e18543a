// Timer base values (RFC 3261 §17.1.1.1, Table 4) and the transaction table bound.
// Every other timer is derived from these in timer-durations.ts.

export type TransactionLimits = Readonly<{
  /** RTT estimate: first retransmission interval of A, E, G. */
  t1Ms: number;
  /** Cap on the retransmission interval for non-INVITE requests and INVITE responses. */
  t2Ms: number;
  /** How long a message may stay in the network: timers I and K. */
  t4Ms: number;
  /** Timer D on unreliable transports: "at least 32 seconds" (RFC 3261 §17.1.1.2). */
  timerDUnreliableMs: number;
  /** An INVITE server transaction sends 100 Trying itself when the TU has not
   * answered within this (RFC 3261 §17.2.1). */
  trying100DelayMs: number;
  /** How long an INVITE client transaction waits in Proceeding for a final response
   * after the last provisional. RFC 3261 §17.1.1.2 has no bound there (a proxy's timer C,
   * §16.8, is the only one); without one a lost final after a 180 would pin the
   * transaction forever, so we end it with a 408 to the TU, which may then CANCEL. */
  timerCMs: number;
  /** A request larger than this is not sent over UDP when a TCP transport exists
   * (RFC 3261 §18.1.1: 1300 bytes when the path MTU is unknown), to avoid IP
   * fragmentation of big INVITEs. Applies to requests whose Via the layer adds. */
  udpRequestBytesMax: number;
  /** Live transactions (client + server); a new request beyond it is answered 503
   * statelessly and sendRequest throws SIP_ERR_TX_TOO_MANY_TRANSACTIONS. */
  transactionsMax: number;
}>;

export const DEFAULT_TRANSACTION_LIMITS: TransactionLimits = Object.freeze({
  t1Ms: 500,
  t2Ms: 4_000,
  t4Ms: 5_000,
  timerDUnreliableMs: 32_000,
  trying100DelayMs: 200,
  timerCMs: 181_000,
  udpRequestBytesMax: 1300,
  transactionsMax: 100_000,
});

export function transactionLimits(overrides: Partial<TransactionLimits> = {}): TransactionLimits {
  return Object.freeze({ ...DEFAULT_TRANSACTION_LIMITS, ...overrides });
}
