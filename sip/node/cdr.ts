// Call detail records: one JSON line per call, appended to a file (or dropped when no
// file is configured). Written once, when the call ends, so a line is never amended.

import { createWriteStream, type WriteStream } from 'node:fs';

export type CdrAttempt = Readonly<{ dn: string; outcome: string }>;

export type CdrRecord = Readonly<{
  node: string;
  callId: string;
  service: string;
  skill: string;
  from: string;
  /** The agent that took the call, if one did. */
  dn: string | null;
  agentCallId: string | null;
  startedAt: string;
  answeredAt: string | null;
  endedAt: string;
  setupMs: number | null;
  talkMs: number;
  queuedMs: number;
  /** completed | abandoned | queue-timeout | no-agent | failed | media-lost */
  outcome: string;
  endedBy: 'caller' | 'agent' | 'node';
  attempts: readonly CdrAttempt[];
}>;

export class CdrWriter {
  private readonly stream: WriteStream | null;
  /** The file written, or null when CDRs are off. */
  readonly path: string | null;

  constructor(path: string | undefined) {
    this.path = path ?? null;
    this.stream = path === undefined ? null : createWriteStream(path, { flags: 'a' });
  }

  /** Resolves once every record written so far is in the file (a query reads the file). */
  flush(): Promise<void> {
    const s = this.stream;
    if (s === null || s.writableLength === 0 || s.writableEnded) return Promise.resolve();
    // Chunks are written in order: the empty one's callback runs after all before it.
    return new Promise((resolve) => s.write('', () => resolve()));
  }

  write(record: CdrRecord): void {
    this.stream?.write(JSON.stringify(record) + '\n');
  }

  close(): Promise<void> {
    const s = this.stream;
    if (s === null) return Promise.resolve();
    return new Promise((resolve) => s.end(() => resolve()));
  }
}
