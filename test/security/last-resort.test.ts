// Threat: an exception that escapes every handler (a bug reached by some input) ends a
// role process by accident, with Node's bare stack on stderr and exit 1 — the same code
// as a bad flag — or, if something swallowed it, leaves the process wedged. Proves: a
// real role process (`ringfence shard`, started through cluster/cli.ts) that meets an
// uncaught exception or an unhandled rejection logs exactly one JSON line with the error
// and its stack and exits 70 (EX_SOFTWARE), so its supervisor restarts it. The fault is
// planted from outside the product (test/support/planted-fault.ts, `node --import`) and
// fired over stdin once the role is ready.
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import t, { type Test } from 'tap';
import { writeLocalClusterConfig } from '../../cluster/local-cluster.js';
import { exitCodes } from '../../common/last-resort.js';
import { tempDir } from '../support/temp-dir.js';

const cliPath = fileURLToPath(new URL('../../cluster/cli.ts', import.meta.url));
const faultPath = fileURLToPath(new URL('../support/planted-fault.ts', import.meta.url));

type Ended = { code: number | null; signal: NodeJS.Signals | null; stderr: string };

/** Starts a one-replica shard with the planted fault and resolves once it is ready. */
async function startRole(t: Test, name: string): Promise<{ child: ChildProcess; ended: Promise<Ended> }> {
  const dir = tempDir(t, name);
  const { path } = await writeLocalClusterConfig({ dir, shards: 1, replicasPerShard: 1 });
  const child = spawn(process.execPath, ['--import', 'tsx', '--import', faultPath, cliPath, 'shard', '--config', path, '--id', 's1-a'], { stdio: ['pipe', 'pipe', 'pipe'] });
  t.teardown(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString('utf8')));
  const ended = new Promise<Ended>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal, stderr })));
  let stdout = '';
  await new Promise<void>((resolve, reject) => {
    child.stdout!.on('data', (d: Buffer) => {
      stdout += d.toString('utf8');
      if (stdout.includes('"event":"ready"')) resolve();
    });
    void ended.then((e) => reject(new Error(`the shard exited (${e.signal ?? e.code}) before it was ready: ${e.stderr.slice(-2000)}`)));
  });
  return { child, ended };
}

function jsonLines(text: string): Record<string, unknown>[] {
  return text.split('\n').flatMap((line) => {
    try {
      const v: unknown = JSON.parse(line);
      return typeof v === 'object' && v !== null ? [v as Record<string, unknown>] : [];
    } catch {
      return [];
    }
  });
}

for (const [command, msg] of [['throw', 'uncaught exception'], ['reject', 'unhandled rejection']] as const) {
  t.test(`${msg}: one JSON log line with the stack, then exit ${exitCodes.software}`, async (t) => {
    const { child, ended } = await startRole(t, `last-resort-${command}`);
    child.stdin!.write(`${command}\n`);
    const end = await ended;
    t.equal(end.signal, null, 'the process exited by itself, not by a signal');
    t.equal(end.code, exitCodes.software, `exit code ${exitCodes.software} (EX_SOFTWARE), not Node's default 1`);
    const fatal = jsonLines(end.stderr).filter((l) => l.level === 'error' && l.msg === msg);
    t.equal(fatal.length, 1, `exactly one "${msg}" log line (stderr: ${end.stderr.slice(-1500)})`);
    t.match(fatal[0], { role: 'shard', exitCode: exitCodes.software, err: /^planted fault/, stack: /planted-fault\.ts/ }, 'the line names the error and carries its stack');
  });
}
