// Two transaction layers (a UAC at 10.0.0.1 and a UAS at 10.0.0.2) joined by a LoopNetwork
// on one FakeClock: the test scripts the UAS's TU, loses or delays packets, and reads
// the packet log with timestamps.

import { FakeClock } from '../../../sip/transport/fake-clock.js';
import { LoopNetwork, type LoopPacket } from '../../../sip/transport/loop-transport.js';
import type { SipSource, SipTarget, TransportProtocol } from '../../../sip/transport/transport.js';
import type { SipRequest } from '../../../sip/syntax/message.js';
import {
  TransactionLayer,
  type ClientEvent,
  type ClientTransaction,
  type ServerTransaction,
} from '../../../sip/transaction/transaction-layer.js';
import type { TransactionLimits } from '../../../sip/transaction/limits.js';

export const UAC = { host: '10.0.0.1', port: 5060 } as const;
export const UAS = { host: '10.0.0.2', port: 5060 } as const;

export type Recorded<T> = { atMs: number; value: T };

export function harness(options: { protocol?: TransportProtocol; uasLimits?: Partial<TransactionLimits> } = {}) {
  const protocol = options.protocol ?? 'UDP';
  const clock = new FakeClock();
  const net = new LoopNetwork({ clock });
  const uacTransport = net.attach({ ...UAC, protocol });
  const uasTransport = net.attach({ ...UAS, protocol });
  const requests: Recorded<ServerTransaction>[] = [];
  const acks: Recorded<{ ack: SipRequest; tx: ServerTransaction | undefined }>[] = [];
  const serverErrors: Recorded<{ tx: ServerTransaction; type: string }>[] = [];
  const h = {
    clock,
    net,
    protocol,
    uacTransport,
    uasTransport,
    requests,
    acks,
    serverErrors,
    /** The UAS's TU; tests replace it. */
    onRequest: (_tx: ServerTransaction, _req: SipRequest): void => undefined,
    uas: undefined as unknown as TransactionLayer,
    uac: undefined as unknown as TransactionLayer,
    events: [] as Recorded<ClientEvent & { method: string }>[],
    uasTarget: { protocol, ...UAS } as SipTarget,
    send(request: SipRequest, onEvent?: (e: ClientEvent, tx: ClientTransaction) => void): ClientTransaction {
      return h.uac.sendRequest(request, h.uasTarget, (e, tx) => {
        h.events.push({ atMs: clock.now(), value: { ...e, method: tx.request.method } });
        onEvent?.(e, tx);
      });
    },
    /** Times at which `from` sent packets matching `pick`. */
    times(from: typeof UAC | typeof UAS, pick: (p: LoopPacket) => boolean): number[] {
      return net.sentFrom(from, pick).map((p) => p.atMs);
    },
  };
  h.uas = new TransactionLayer({
    transports: [uasTransport],
    timers: clock,
    limits: options.uasLimits,
    user: {
      onRequest: (tx, req) => {
        requests.push({ atMs: clock.now(), value: tx });
        h.onRequest(tx, req);
      },
      onAck: (ack: SipRequest, _source: SipSource, tx) => acks.push({ atMs: clock.now(), value: { ack, tx } }),
      onServerError: (tx, notice) => serverErrors.push({ atMs: clock.now(), value: { tx, type: `${notice.type}${notice.type === 'timeout' ? ` ${notice.timer}` : ''}` } }),
    },
  });
  h.uac = new TransactionLayer({
    transports: [uacTransport],
    timers: clock,
    user: { onRequest: () => undefined },
  });
  return h;
}

export const isRequest = (method: string) => (p: LoopPacket): boolean => p.message.kind === 'request' && p.message.method === method;
export const isStatus = (status: number) => (p: LoopPacket): boolean => p.message.kind === 'response' && p.message.status === status;
