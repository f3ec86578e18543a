// Builders and the child-process runner shared by the storage tests.
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { Test } from 'tap';
import type { Entry } from '../../../raft/types.js';

export function entry(index: number, term: number, text = `e${index}t${term}`): Entry {
  return { index, term, kind: 'normal', timestampMs: 1_700_000_000_000 + index, data: new TextEncoder().encode(text) };
}

export function entries(from: number, to: number, term: number): Entry[] {
  const out: Entry[] = [];
  for (let i = from; i <= to; i++) out.push(entry(i, term));
  return out;
}

export type ChildEnd = { code: number | null; signal: NodeJS.Signals | null; stderr: string };

/** Runs `command args` (a fixture under `node --import tsx`, or a shell around one), hands
 * each stdout line to `onLine` with the child (to kill it at the chosen moment), and
 * resolves with how it ended. The child is SIGKILLed in teardown should the test end first. */
export function runChild(t: Test, command: string, args: string[], onLine: (line: string, child: ChildProcess) => void): Promise<ChildEnd> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    t.teardown(() => {
      child.kill('SIGKILL');
    });
    let buffered = '';
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.stdout.on('data', (d: Buffer) => {
      buffered += d.toString();
      const lines = buffered.split('\n');
      buffered = lines.pop()!;
      for (const line of lines) onLine(line, child);
    });
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, stderr }));
  });
}

/** argv for running a TypeScript fixture next to this file under tsx. */
export function fixtureArgs(name: string, ...args: string[]): string[] {
  return ['--import', 'tsx', fileURLToPath(new URL(`./fixtures/${name}`, import.meta.url)), ...args];
}
