// The SIP transaction error catalogue: stable codes the TU and metrics branch on.

export const TX_ERR = Object.freeze({
  /** The table already holds transactionsMax live transactions. */
  TOO_MANY_TRANSACTIONS: 'SIP_ERR_TX_TOO_MANY_TRANSACTIONS',
  /** No transport is configured for the target's protocol. */
  NO_TRANSPORT: 'SIP_ERR_TX_NO_TRANSPORT',
  /** A request handed to sendRequest cannot start a client transaction (ACK, a Via
   * without an RFC 3261 branch, or a branch already in use). */
  BAD_REQUEST: 'SIP_ERR_TX_BAD_REQUEST',
  /** The layer was closed. */
  CLOSED: 'SIP_ERR_TX_CLOSED',
} as const);

export type TxErrorCode = (typeof TX_ERR)[keyof typeof TX_ERR];

export class SipTransactionError extends Error {
  readonly code: TxErrorCode;
  constructor(code: TxErrorCode, message: string) {
    super(`${code}: ${message}`);
    this.name = 'SipTransactionError';
    this.code = code;
  }
}
