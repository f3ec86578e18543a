// Proves `ringfence phones` works as its own OS process: started with a cluster file whose
// SIP node is (here) a test registrar, it registers every DN of --dns through the digest
// challenge, prints its ready line with the count, answers a call per --behaviour,
// writes the --record file, prints a status line on SIGUSR2 and exits cleanly on SIGTERM.
import t from 'tap';
import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';
import { onJsonLines } from '../../../common/json-lines.js';
import { parseRecord } from '../../../sip/phones/call-recorder.js';
import { TestRegistrar } from './test-registrar.js';
import { TestCaller } from './test-caller.js';
import { tempDir } from '../../support/temp-dir.js';

const cli = fileURLToPath(new URL('../../../cluster/cli.ts', import.meta.url));

t.test('phones process: register, ready line, a call, status line, clean exit', async (tt) => {
  const dir = tempDir(tt, 'phones-proc');
  const dns = ['1001', '1002', '1003', '1004'];
  const registrar = await TestRegistrar.start({ realm: 'ringfence', passwords: new Map(dns.map((d) => [d, `pw-${d}`])) });
  tt.teardown(() => registrar.close());
  const config = {
    secret: 'test-secret-0123456789abcdefghijklmnopqrstuvwxyz', tokens: { read: 'test-read-token-0123456789abcdefghijklmn', admin: 'test-admin-token-0123456789abcdefghijklmn' }, realm: 'ringfence',
    shards: [{ id: 's1', replicas: [{ id: 's1-a', raft: '127.0.0.1:1', client: '127.0.0.1:2', admin: '127.0.0.1:3', data: dir }] }],
    sip: [{ id: 'sip1', udp: `127.0.0.1:${registrar.port}`, admin: '127.0.0.1:4' }],
  };
  const configPath = join(dir, 'cluster.yaml');
  writeFileSync(configPath, stringify(config));
  const recordPath = join(dir, 'record.jsonl');
  const child = spawn(process.execPath, ['--import', 'tsx', cli, 'phones', '--config', configPath, '--id', 'phones1', '--dns', '1001-1004', '--behaviour', 'answer,busy:1004', '--answer-after-ms', '10', '--record', recordPath], { stdio: ['ignore', 'pipe', 'pipe'] });
  tt.teardown(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  const lines: Record<string, unknown>[] = [];
  const waiters: (() => void)[] = [];
  onJsonLines(child.stdout!, (line, ev) => {
    if (ev === null) {
      tt.fail(`stdout carries only JSON lines; got ${JSON.stringify(line)}`);
      return;
    }
    lines.push(ev);
    for (const w of waiters.splice(0)) w();
  });
  const next = async (event: string): Promise<Record<string, unknown>> => {
    for (;;) {
      const found = lines.find((l) => l.event === event);
      if (found) {
        lines.splice(lines.indexOf(found), 1);
        return found;
      }
      await new Promise<void>((r) => waiters.push(r));
    }
  };
  const ready = await next('ready');
  tt.equal(ready.registered, 4, 'ready once all four DNs are registered');
  tt.same([...registrar.bindings.keys()].sort(), dns);

  const caller = await TestCaller.start();
  tt.teardown(() => caller.close());
  const port = Number(ready.sipPort);
  const d = await caller.invite(`sip:1001@127.0.0.1:${port}`, { host: '127.0.0.1', port });
  tt.equal(d.final.status, 200);
  tt.equal(await caller.bye(d), 200);
  const busy = await caller.invite(`sip:1004@127.0.0.1:${port}`, { host: '127.0.0.1', port });
  tt.equal(busy.final.status, 486, '--behaviour override makes 1004 busy');

  child.kill('SIGUSR2');
  const status = await next('status');
  tt.match(status, { invites: 2, answered: 1, rejected: 1, doubleOffers: 0, registered: 4, activeCalls: 0 });
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  child.kill('SIGTERM');
  tt.equal(await exited, 0, 'clean exit on SIGTERM');
  const rec = parseRecord(readFileSync(recordPath, 'utf8'));
  tt.same(rec.filter((e) => e.ev === 'invite').map((e) => e.dn), ['1001', '1004']);
});
