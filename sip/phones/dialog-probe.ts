// Liveness probing of one answered call (RFC 5057 §5.1; RFC 3261 §12.2.1.2): every
// interval the phone sends OPTIONS inside the dialog. A 481 says the peer has forgotten
// the dialog (a restarted SIP node), a 408 or no answer at all (timer F, a transport
// error) says nobody is there (a dead one): either way the call is lost. Any other final
// response — 200, or 405/501 from a peer that does not do OPTIONS — proves the dialog
// lives. Probes go out every interval whether or not the previous one was answered: a SIP
// node that restarts must meet a probe soon after it is back (it answers 481 at once),
// not only at the next retransmission of one old probe, because the restarted node
// offers the agent new calls within seconds. The probes in flight are bounded.

import assert from 'node:assert';
import type { ClientEvent, TransactionLayer } from '../transaction/index.js';
import type { TimerHandle, TimerService } from '../transport/index.js';
import type { DialogRequest } from './dialog-request.js';
import { dialogProbesInFlightMax } from './limits.js';

export type ProbeVerdict = Readonly<{ alive: true } | { alive: false; status: number; why: string }>;

/** What one event of the probe's transaction says; null for a provisional (keep waiting). */
export function probeVerdict(ev: ClientEvent): ProbeVerdict | null {
  switch (ev.type) {
    case 'provisional':
      return null;
    case 'final': {
      const s = ev.response.status;
      if (s === 481 || s === 408) return { alive: false, status: s, why: `${s} ${ev.response.reason}` };
      return { alive: true };
    }
    case 'timeout':
      return { alive: false, status: 408, why: `no answer (timer ${ev.timer})` };
    case 'transport-error':
      return { alive: false, status: ev.response?.status ?? 503, why: `transport error ${ev.code}` };
  }
}

export type DialogProbeOptions = Readonly<{
  layer: TransactionLayer;
  timers: TimerService;
  /** Time between probes, from the answer on; > 0. */
  intervalMs: number;
  /** Builds the next OPTIONS with a fresh CSeq; null when the dialog has nowhere to send. */
  next: () => DialogRequest | null;
  /** Called once, when the dialog is found dead; the probe has stopped by then. */
  onLost: (verdict: Extract<ProbeVerdict, { alive: false }>) => void;
}>;

export class DialogProbe {
  private timer: TimerHandle | null = null;
  private stopped = false;
  /** Probes in flight (no final answer yet). */
  private inFlight = 0;
  /** Number of the newest probe answered "alive" (probes count from 1). */
  private newestAlive = 0;
  /** OPTIONS sent so far (for tests and status). */
  sent = 0;

  constructor(private readonly o: DialogProbeOptions) {
    assert(Number.isFinite(o.intervalMs) && o.intervalMs > 0, `bad probe interval ${o.intervalMs}`);
  }

  start(): void {
    this.schedule();
  }

  /** No more probes; answers still in flight are ignored. Idempotent. */
  stop(): void {
    this.stopped = true;
    if (this.timer !== null) this.o.timers.clearTimer(this.timer);
    this.timer = null;
  }

  private schedule(): void {
    if (this.stopped) return;
    this.timer = this.o.timers.setTimer(this.o.intervalMs, () => this.fire());
  }

  private fire(): void {
    this.timer = null;
    if (this.stopped) return;
    this.schedule();
    // A peer that answers none of them gets no more than this many at once; the oldest
    // one's timeout ends the call anyway.
    if (this.inFlight >= dialogProbesInFlightMax) return;
    const next = this.o.next();
    // No usable remote target: nothing can be probed (nor could a BYE be sent).
    if (next === null) return this.stop();
    const n = ++this.sent;
    this.inFlight++;
    try {
      this.o.layer.sendRequest(next.request, next.target, (ev) => this.onEvent(n, ev));
    } catch {
      // The layer is closing or its table is full: this is not news about the peer.
      this.sent--;
      this.inFlight--;
    }
  }

  private onEvent(n: number, ev: ClientEvent): void {
    const v = probeVerdict(ev);
    if (v === null) return;
    this.inFlight--;
    assert(this.inFlight >= 0, 'more probe answers than probes');
    if (this.stopped) return;
    if (v.alive) {
      this.newestAlive = Math.max(this.newestAlive, n);
      return;
    }
    // A timeout of a probe older than one the peer answered is stale news (its packets
    // were lost); a 481 is the peer's own word that the dialog is gone.
    if (v.status !== 481 && n < this.newestAlive) return;
    this.stop();
    this.o.onLost(v);
  }
}
