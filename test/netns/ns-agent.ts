// A probe that runs inside a network namespace for the netns tests: it reads one JSON
// command per stdin line and answers one JSON line on stdout per command (same `seq`),
// plus an unsolicited {"event":"udp"} line for every datagram its UDP listener receives.
// Commands: listen (a TCP server that answers "ok" and a UDP socket, both on host:port),
// tcp (connect to host:port within timeoutMs: "connected", "timeout" or the error code),
// udp (send one datagram). Its first line is {"event":"ready","pid":...}: the pid the
// test holds must be this process's own for a SIGKILL by pid to reach it.
import { createSocket, type Socket } from 'node:dgram';
import { createConnection, createServer } from 'node:net';
import { createInterface } from 'node:readline';

type Cmd = { seq: number; op: 'listen' | 'tcp' | 'udp'; host: string; port: number; timeoutMs?: number; text?: string };

const out = (o: object): void => { process.stdout.write(`${JSON.stringify(o)}\n`); };
let udp: Socket | null = null;

async function handle(c: Cmd): Promise<object> {
  if (c.op === 'listen') {
    // A prober closes at once, so the reply may meet a reset: that is no failure of the server.
    const srv = createServer((s) => { s.on('error', () => {}); s.end('ok'); });
    await new Promise<void>((res, rej) => { srv.once('error', rej); srv.listen(c.port, c.host, () => res()); });
    udp = createSocket('udp4');
    udp.on('message', (m, r) => out({ event: 'udp', text: m.toString(), from: r.address }));
    await new Promise<void>((res) => udp!.bind(c.port, c.host, () => res()));
    return { listening: true };
  }
  if (c.op === 'tcp') {
    const result = await new Promise<string>((res) => {
      const s = createConnection({ host: c.host, port: c.port });
      const timer = setTimeout(() => { s.destroy(); res('timeout'); }, c.timeoutMs ?? 2000);
      s.once('connect', () => { clearTimeout(timer); s.destroy(); res('connected'); });
      s.once('error', (e: NodeJS.ErrnoException) => { clearTimeout(timer); res(e.code ?? e.message); });
    });
    return { result };
  }
  const sock = createSocket('udp4');
  await new Promise<void>((res, rej) => sock.send(c.text ?? '', c.port, c.host, (e) => (e ? rej(e) : res())));
  sock.close();
  return { sent: true };
}

createInterface({ input: process.stdin }).on('line', (line) => {
  const c = JSON.parse(line) as Cmd;
  handle(c).then((r) => out({ seq: c.seq, ...r }), (e: Error) => out({ seq: c.seq, error: e.message }));
});
out({ event: 'ready', pid: process.pid });
