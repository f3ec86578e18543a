// Ports handed to roles and to SIPp must be usable for UDP as well as TCP: SIPp exited
// with "Unable to bind main socket" when freePorts only proved TCP was free and a phone's
// UDP socket sat on the port. They must also lie below the kernel's ephemeral range: a
// shard replica once exited because the port it was handed had meanwhile become the
// source port of some outgoing connection.
import { createSocket, type Socket } from 'node:dgram';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import t from 'tap';
import { freePorts } from '../../cluster/local-cluster.js';
import { bindUdp, freeSippMediaPort } from '../../cluster/sipp/driver.js';

// On its own loopback address: the thousands of UDP ports it holds must not be the ports
// that test files running beside it were just handed on 127.0.0.1 (that once failed CI).
const HOST = '127.0.0.2';

t.test('freePorts: distinct ports below the ephemeral range that bind for both TCP and UDP', async (t) => {
  const ephemeralMin = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]);
  const rangeEnd = Math.min(30000, ephemeralMin); // the local gateways' RTP ports start at 30000
  // Hold UDP on every even port freePorts may hand out: a TCP-only check would return an
  // even port about half the time, so 40 picks all odd by luck has odds of 1 in 2^40.
  const held: Socket[] = [];
  t.teardown(() => held.forEach((s) => s.close()));
  for (let port = 20000; port < rangeEnd; port += 2) {
    const s = createSocket('udp4');
    const ok = await new Promise<boolean>((r) => {
      s.once('error', () => r(false));
      s.bind(port, HOST, () => r(true));
    });
    if (ok) held.push(s);
    else s.close();
  }
  const ports = await freePorts(40, HOST);
  t.equal(new Set(ports).size, 40, 'no port twice');
  t.ok(ports.every((p) => p >= 20000 && p < rangeEnd), `all in 20000-${rangeEnd - 1}: below the ephemeral range (${ephemeralMin}), where no outgoing connection takes them meanwhile, and below the gateways' RTP ports`);
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
