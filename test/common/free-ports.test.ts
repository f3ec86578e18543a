// Ports handed to roles and to SIPp must be usable for UDP as well as TCP: SIPp exited
// with "Unable to bind main socket" when freePorts only proved TCP was free and a phone's
// UDP socket sat on the port.
import { createSocket, type Socket } from 'node:dgram';
import { createServer } from 'node:net';
import t from 'tap';
import { freePorts } from '../../common/local-cluster.js';
import { bindUdp, freeSippMediaPort } from '../support/sipp.js';

// On its own loopback address: the 4,000 UDP ports it holds must not be the ports that
// test files running beside it were just handed on 127.0.0.1 (that once failed CI).
const HOST = '127.0.0.2';

t.test('freePorts: distinct ports that bind for both TCP and UDP', async (t) => {
  // Hold 4,000 UDP ports: with the kernel picking TCP ports from ~28,000, forty picks all
  // missing them by luck has odds of about 1 in 400.
  const held: Socket[] = [];
  for (let i = 0; i < 4000; i++) {
    const s = createSocket('udp4');
    await new Promise<void>((r) => s.bind(0, HOST, () => r()));
    held.push(s);
  }
  t.teardown(() => held.forEach((s) => s.close()));
  const ports = await freePorts(40, HOST);
  t.equal(new Set(ports).size, 40, 'no port twice');
  for (const port of ports) {
    const udp = createSocket('udp4');
    const bound = await new Promise<boolean>((res) => {
      udp.once('error', () => res(false));
      udp.bind(port, HOST, () => res(true));
    });
    t.ok(bound, `UDP ${port} binds`);
    udp.close();
    await new Promise<void>((res, rej) => {
      const s = createServer();
      s.once('error', rej);
      s.listen(port, HOST, () => s.close(() => res()));
    });
  }
});

t.test('freeSippMediaPort: an even base whose four UDP ports bind', async (t) => {
  const base = await freeSippMediaPort();
  t.equal(base % 2, 0);
  const socks = await Promise.all([0, 1, 2, 3].map((o) => bindUdp(base + o)));
  t.ok(socks.every((s) => s !== null), 'all four bind');
  socks.forEach((s) => s?.close());
});
