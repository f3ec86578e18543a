// Both socket transports count a send only once the socket has taken the bytes, and turn a
// socket's write error into SEND_FAILED with the error kept as the cause.
import net from 'node:net';
import t from 'tap';
import { countedSend, createCounters } from '../../../sip/transport/counters.js';
import { SipTransportError, TRANSPORT_ERR } from '../../../sip/transport/errors.js';

t.test('a taken send counts one message and its bytes', async (t) => {
  const c = createCounters();
  let done: ((err?: Error | null) => void) | null = null;
  const sent = countedSend(c, 321, (cb) => (done = cb));
  t.equal(c.messagesSent, 0, 'nothing counted before the socket calls back');
  done!(null);
  await sent;
  t.same([c.messagesSent, c.bytesSent, c.sendErrors], [1, 321, 0]);
});

t.test('a write to a destroyed TCP socket rejects SEND_FAILED and counts a send error', async (t) => {
  const c = createCounters();
  const socket = new net.Socket();
  socket.destroy();
  const err = await countedSend(c, 10, (done) => socket.write(Buffer.alloc(10), done)).then(
    () => null,
    (e: unknown) => e,
  );
  t.ok(err instanceof SipTransportError, 'a transport error');
  t.equal((err as SipTransportError).code, TRANSPORT_ERR.SEND_FAILED);
  t.ok((err as Error).cause instanceof Error, 'the socket error is the cause');
  t.same([c.messagesSent, c.bytesSent, c.sendErrors], [0, 0, 1]);
});
