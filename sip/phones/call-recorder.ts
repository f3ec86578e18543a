// Every INVITE the phones receive, and how each call ended, as JSON lines: the evidence the
// load and chaos tests use to prove that no agent phone was ever offered two calls at once.
// Lines are written synchronously so a SIGKILLed phones process still leaves its history.

import { closeSync, openSync, writeSync } from 'node:fs';

export type CallEvent = Readonly<
  | {
      ev: 'invite';
      dn: string;
      callId: string;
      atMs: number;
      /** The phone already had a call (ringing or talking): the cluster double-offered it. */
      doubleOffer: boolean;
      activeCallIds: readonly string[];
      from: string;
    }
  | { ev: 'ringing' | 'answered' | 'confirmed'; dn: string; callId: string; atMs: number }
  | { ev: 'rejected'; dn: string; callId: string; atMs: number; status: number }
  | {
      ev: 'ended';
      dn: string;
      callId: string;
      atMs: number;
      /** 'dialog-lost': our in-dialog OPTIONS got 481 or no answer; `status` says which. */
      reason: EndReason;
      /** Only with 'dialog-lost': 481, or 408/503 for a timeout or a transport error. */
      status?: number;
    }
  | { ev: 'reinvite'; dn: string; callId: string; atMs: number }
>;

/** How a call ended. Older records hold only the first four; readers must accept
 * reasons they do not know (new ones may be added). */
export type EndReason = 'bye' | 'cancel' | 'no-ack' | 'bye-sent' | 'dialog-lost';

export type RecorderCounters = {
  invites: number;
  answered: number;
  rejected: number;
  cancelled: number;
  ended: number;
  /** Calls ended because their dialog probe found the peer gone. */
  dialogsLost: number;
  doubleOffers: number;
};

export class CallRecorder {
  private fd: number | null;
  private readonly stats: RecorderCounters = { invites: 0, answered: 0, rejected: 0, cancelled: 0, ended: 0, dialogsLost: 0, doubleOffers: 0 };

  constructor(path: string | undefined) {
    this.fd = path === undefined ? null : openSync(path, 'a');
  }

  record(e: CallEvent): void {
    if (e.ev === 'invite') {
      this.stats.invites++;
      if (e.doubleOffer) this.stats.doubleOffers++;
    } else if (e.ev === 'answered') this.stats.answered++;
    else if (e.ev === 'rejected') this.stats.rejected++;
    else if (e.ev === 'ended') {
      this.stats.ended++;
      if (e.reason === 'cancel') this.stats.cancelled++;
      if (e.reason === 'dialog-lost') this.stats.dialogsLost++;
    }
    if (this.fd !== null) writeSync(this.fd, JSON.stringify(e) + '\n');
  }

  counters(): RecorderCounters {
    return { ...this.stats };
  }

  close(): void {
    if (this.fd !== null) closeSync(this.fd);
    this.fd = null;
  }
}

/** Reads a record file back (for tests and the chaos checker). */
export function parseRecord(text: string): CallEvent[] {
  return text.split('\n').filter((l) => l.trim() !== '').map((l) => JSON.parse(l) as CallEvent);
}
