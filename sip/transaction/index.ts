// The SIP transaction layer's public API (RFC 3261 §17, RFC 6026). The TU imports from here.

export {
  TransactionLayer,
  type TransactionLayerOptions,
  type TransactionUser,
  type ClientTransaction,
  type ServerTransaction,
  type ClientEvent,
} from './transaction-layer.js';
export { buildCancel, buildNonSuccessAck } from './ack.js';
export { cancelTargetKey, clientKeyOfRequest, clientKeyOfResponse, serverKeyOfRequest, MAGIC_COOKIE } from './matching.js';
export { DEFAULT_TRANSACTION_LIMITS, transactionLimits, type TransactionLimits } from './limits.js';
export { TX_ERR, SipTransactionError, type TxErrorCode } from './errors.js';
export type { TransactionCounters } from './counters.js';
export { step, newTransaction, kindFor, type StepResult } from './machine.js';
export type { TxKind, TxState, TxEvent, TxAction, TuNotice, TimerName, TxRecord, TxConfig } from './types.js';
