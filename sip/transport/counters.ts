// Counters every transport keeps; the SIP node exports them as metrics. Parse errors are
// counted per parser error code so an operator can tell garbage from a buggy peer.
import { SipTransportError, TRANSPORT_ERR } from './errors.js';

export type TransportCounters = {
  messagesReceived: number;
  messagesSent: number;
  bytesReceived: number;
  bytesSent: number;
  /** Malformed inbound messages by parser error code (answered or dropped). */
  parseErrors: Record<string, number>;
  /** 400 responses sent for malformed requests that could be answered. */
  badRequestsAnswered: number;
  /** Inbound messages dropped without an answer, by reason code. */
  dropped: Record<string, number>;
  sendErrors: number;
  connectionsOpened: number;
  connectionsClosed: number;
  connectionsRejected: number;
};

export function createCounters(): TransportCounters {
  return {
    messagesReceived: 0,
    messagesSent: 0,
    bytesReceived: 0,
    bytesSent: 0,
    parseErrors: {},
    badRequestsAnswered: 0,
    dropped: {},
    sendErrors: 0,
    connectionsOpened: 0,
    connectionsClosed: 0,
    connectionsRejected: 0,
  };
}

export function countInto(table: Record<string, number>, code: string): void {
  table[code] = (table[code] ?? 0) + 1;
}

export function snapshotCounters(c: TransportCounters): TransportCounters {
  return { ...c, parseErrors: { ...c.parseErrors }, dropped: { ...c.dropped } };
}

/** Hands `byteCount` bytes to a socket through `start` (which passes `done` as the
 * socket's write callback) and resolves once the socket took them, counting the send, or
 * its failure as a SEND_FAILED error. */
export function countedSend(counters: TransportCounters, byteCount: number, start: (done: (err?: Error | null) => void) => void): Promise<void> {
  return new Promise((resolve, reject) => {
    start((err) => {
      if (err) {
        counters.sendErrors++;
        reject(new SipTransportError(TRANSPORT_ERR.SEND_FAILED, err.message, { cause: err }));
        return;
      }
      counters.messagesSent++;
      counters.bytesSent += byteCount;
      resolve();
    });
  });
}
