// The /proc readers `bench stores` counts listeners, Raft connections and memory with
// (bench/sockets.ts), against real loopback sockets of this process: a listener it opens
// is found among its listening ports, two connections it dials to that listener count as
// two (once each, on the dialling side), and closing them brings the count back to 0.
import net from 'node:net';
import t from 'tap';
import { connectionsTo, metricValue, parseProcNetTcp, rssBytes, tcpSocketsOf } from '../../bench/sockets.js';

t.test('rows of /proc/net/tcp', async (t) => {
  const text = [
    '  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode',
    '   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 4242 1 0000000000000000 100 0 0 10 0',
    '   1: 0100007F:C350 0100007F:1F90 01 00000000:00000000 00:00000000 00000000  1000        0 4343 1 0000000000000000 20 4 30 10 -1',
    '   2: 0100007F:C351 0100007F:1F90 06 00000000:00000000 03:00000AFB 00000000     0        0 0 3 0000000000000000',
    '   3: garbage',
  ].join('\n');
  t.same(parseProcNetTcp(text), [
    { localPort: 8080, remotePort: 0, state: 'listen', inode: 4242 },
    { localPort: 50000, remotePort: 8080, state: 'established', inode: 4343 },
    { localPort: 50001, remotePort: 8080, state: 'other', inode: 0 },
  ]);
});

t.test('listeners and connections of this process, by inode', async (t) => {
  const server = net.createServer((s) => s.on('error', () => {}));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())));
  const port = (server.address() as net.AddressInfo).port;
  t.ok(tcpSocketsOf(process.pid).listening.includes(port), `listening on ${port}`);
  t.equal(connectionsTo([process.pid], new Set([port])), 0, 'no connection yet');
  const dial = (): Promise<net.Socket> => new Promise((resolve) => {
    const s = net.connect({ host: '127.0.0.1', port }, () => resolve(s));
  });
  const a = await dial();
  const b = await dial();
  t.equal(connectionsTo([process.pid], new Set([port])), 2, 'two connections, each counted once');
  a.destroy();
  b.destroy();
  // The handles close on a later turn of the loop.
  for (let i = 0; i < 100 && connectionsTo([process.pid], new Set([port])) > 0; i++) await new Promise((r) => setTimeout(r, 20));
  t.equal(connectionsTo([process.pid], new Set([port])), 0, 'closed: none left');
  t.same(tcpSocketsOf(2 ** 22 + 12345), { listening: [], established: [] }, 'a pid that does not exist holds nothing');
});

t.test('resident memory and a metric', async (t) => {
  const rss = rssBytes(process.pid);
  t.ok(rss !== null && rss > 10 * 1024 * 1024, `this process holds ${rss} bytes resident`);
  t.equal(rssBytes(2 ** 22 + 12345), null);
  const text = '# HELP x\nringfence_store_log_syncs_total{store="a"} 12\nringfence_store_log_syncs_total_other 99\nringfence_store_log_syncs_total{store="b"} 3\n';
  t.equal(metricValue(text, 'ringfence_store_log_syncs_total'), 15, 'summed over label sets, not a longer name');
  t.equal(metricValue(text, 'nothing'), null);
  t.equal(metricValue(text, 'ringfence_store_log_syncs_total', { store: 'b' }), 3, 'only the label sets with every label asked for');
  const spaces = 'nodejs_heap_space_size_total_bytes{space="new",store="a"} 4\nnodejs_heap_space_size_total_bytes{space="new_large_object",store="a"} 7\n';
  t.equal(metricValue(spaces, 'nodejs_heap_space_size_total_bytes', { space: 'new' }), 4, 'a label\'s value matched whole, not as a prefix');
  t.equal(metricValue(spaces, 'nodejs_heap_space_size_total_bytes', { space: 'old' }), null, 'no such label set: null');
});
