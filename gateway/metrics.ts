// The media gateway's Prometheus metrics. The relay's hot path keeps its figures in typed
// arrays per leg slot (stats.ts) and knows nothing of Prometheus; they are read here at
// scrape time. A slot's figures start again at 0 when a new call takes the slot, so a
// call's figures are added to running totals when it is deleted (the gateway's observer),
// and each counter is those totals plus the calls in the table now: it only grows.
//
// Legs: A is the side of the call's first offer (its from-tag), B the answerer, as in the
// ng `query` report; packets and bytes are counted on the leg they ARRIVED from, so
// leg="A" is the A → B direction. Loss is RFC 3550's estimate (expected − received), which
// a late duplicate can lower; the exported counter holds its highest value, so it never
// goes down. Jitter is the RFC 3550 interarrival estimate: its largest value among the
// calls in progress (a gauge) and each leg's value at the end of its call (a histogram).
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { collectProcessMetrics } from '../common/process-metrics.js';
import type { ControlCounters } from './control-server.js';
import type { Gateway } from './gateway.js';
import type { LegStatsSnapshot } from './stats.js';

/** ng commands the gateway knows; anything else is counted as `unknown` (a peer chooses
 * the name, and a label's values must stay few). */
const knownCommands = new Set(['ping', 'offer', 'answer', 'delete', 'query', 'list', 'play media', 'stop media']);
const knownResults = new Set(['ok', 'pong', 'error']);

type LegTotals = { rtpPackets: number; rtpBytes: number; rtcpPackets: number; rtcpBytes: number; relayedPackets: number; relayedBytes: number; lostPackets: number; droppedSource: number; droppedRate: number; droppedUnroutable: number };
const legs = ['A', 'B'] as const;
const zero = (): LegTotals => ({ rtpPackets: 0, rtpBytes: 0, rtcpPackets: 0, rtcpBytes: 0, relayedPackets: 0, relayedBytes: 0, lostPackets: 0, droppedSource: 0, droppedRate: 0, droppedUnroutable: 0 });

function add(into: LegTotals, s: LegStatsSnapshot): void {
  into.rtpPackets += s.rtpPackets;
  into.rtpBytes += s.rtpBytes;
  into.rtcpPackets += s.rtcpPackets;
  into.rtcpBytes += s.rtcpBytes;
  into.relayedPackets += s.relayedPackets;
  into.relayedBytes += s.relayedBytes;
  into.lostPackets += s.lostPackets;
  into.droppedSource += s.droppedSource;
  into.droppedRate += s.droppedRate;
  into.droppedUnroutable += s.droppedUnroutable;
}

export type GatewayMetricsOptions = Readonly<{
  gateway: Gateway;
  /** The ng control server's drop and refusal counters (null: none to export). */
  control: Readonly<{ counters: Readonly<ControlCounters> }> | null;
  /** The gateway id (a default label), as in the cluster file. */
  id: string;
}>;

export class GatewayMetrics {
  readonly registry = new Registry();
  readonly #gateway: Gateway;
  /** Figures of deleted calls, per leg. */
  readonly #ended: Record<(typeof legs)[number], LegTotals> = { A: zero(), B: zero() };
  /** The highest loss exported per leg (see the header). */
  readonly #lostHigh: Record<(typeof legs)[number], number> = { A: 0, B: 0 };

  constructor(o: GatewayMetricsOptions) {
    this.#gateway = o.gateway;
    const r = this.registry;
    r.setDefaultLabels({ gateway: o.id });
    collectProcessMetrics(r);
    const gw = o.gateway;

    const commands = new Counter({ name: 'ringfence_gateway_ng_commands_total', help: 'ng commands run, by command and result (ok, pong, error)', labelNames: ['command', 'result'], registers: [r] });
    for (const command of knownCommands) commands.inc({ command, result: command === 'ping' ? 'pong' : 'ok' }, 0);
    const callsCreated = new Counter({ name: 'ringfence_gateway_calls_created_total', help: 'media sessions (calls) created by an offer', registers: [r] });
    const jitterAtEnd = new Histogram({
      name: 'ringfence_gateway_leg_jitter_seconds',
      help: 'RTP interarrival jitter (RFC 3550) of each leg that received RTP, when its call was deleted',
      buckets: [0.001, 0.002, 0.005, 0.01, 0.02, 0.03, 0.05, 0.1, 0.2],
      registers: [r],
    });
    gw.observer = {
      command(command, result) {
        const c = typeof command === 'string' && knownCommands.has(command) ? command : 'unknown';
        const res = typeof result === 'string' && knownResults.has(result) ? result : 'other';
        commands.inc({ command: c, result: res });
      },
      callCreated: () => callsCreated.inc(),
      callEnded: (snapshots) => {
        snapshots.forEach((s, i) => {
          add(this.#ended[legs[i]!], s);
          if (s.rtpPackets > 0) jitterAtEnd.observe(s.jitterMs / 1000);
        });
      },
    };

    new Counter({ name: 'ringfence_gateway_plays_total', help: 'playbacks started by play media (each replaces what played on its leg)', registers: [r], collect() { this.reset(); this.inc(gw.player.playsStarted); } });
    new Counter({ name: 'ringfence_gateway_played_packets_total', help: 'RTP packets the gateway sent from prompts (and the silence after them)', registers: [r], collect() { this.reset(); this.inc(gw.player.packetsSent); } });
    new Gauge({ name: 'ringfence_gateway_playing_legs', help: 'legs a prompt (or the silence after one) is being played into', registers: [r], collect() { this.set(gw.player.activeLegs); } });
    new Gauge({ name: 'ringfence_gateway_calls', help: 'media sessions (calls) in the gateway\'s table', registers: [r], collect() { this.set(gw.calls.size); } });
    new Gauge({ name: 'ringfence_gateway_calls_timed_out', help: 'calls whose media timed out, waiting for their SIP node to delete them', registers: [r], collect() { this.set(gw.calls.timedOutIds().length); } });
    new Gauge({
      name: 'ringfence_gateway_port_pairs',
      help: 'RTP/RTCP port pairs of the gateway\'s range, in use or free',
      labelNames: ['state'],
      registers: [r],
      collect() {
        this.set({ state: 'in_use' }, gw.ports.capacityPairs - gw.ports.freePairs);
        this.set({ state: 'free' }, gw.ports.freePairs);
      },
    });
    new Gauge({
      name: 'ringfence_gateway_jitter_max_seconds',
      help: 'largest RTP interarrival jitter (RFC 3550) among the legs of calls in progress',
      registers: [r],
      collect() {
        let max = 0;
        for (const call of gw.calls.values()) for (let leg = 0; leg < 2; leg++) max = Math.max(max, gw.relay.stats.snapshot(call.index * 2 + leg).jitterMs);
        this.set(max / 1000);
      },
    });

    const self = this;
    const legCounter = (name: string, help: string, pick: (t: LegTotals) => number, lost = false): void => {
      new Counter({
        name,
        help,
        labelNames: ['leg'],
        registers: [r],
        collect() {
          const totals = self.#totals();
          this.reset();
          for (const leg of legs) {
            let v = pick(totals[leg]);
            if (lost) v = self.#lostHigh[leg] = Math.max(self.#lostHigh[leg], v);
            this.inc({ leg }, v);
          }
        },
      });
    };
    legCounter('ringfence_gateway_rtp_packets_total', 'RTP packets received from a leg (leg A: the first offer\'s side)', (t) => t.rtpPackets);
    legCounter('ringfence_gateway_rtp_bytes_total', 'RTP bytes received from a leg', (t) => t.rtpBytes);
    legCounter('ringfence_gateway_rtcp_packets_total', 'RTCP packets received from a leg', (t) => t.rtcpPackets);
    legCounter('ringfence_gateway_rtcp_bytes_total', 'RTCP bytes received from a leg', (t) => t.rtcpBytes);
    legCounter('ringfence_gateway_relayed_packets_total', 'RTP and RTCP packets from a leg relayed on to the other leg', (t) => t.relayedPackets);
    legCounter('ringfence_gateway_relayed_bytes_total', 'RTP and RTCP bytes from a leg relayed on to the other leg', (t) => t.relayedBytes);
    legCounter('ringfence_gateway_rtp_lost_packets_total', 'RTP packets lost on the way from a leg (RFC 3550 estimate, never decreasing)', (t) => t.lostPackets, true);

    new Counter({
      name: 'ringfence_gateway_dropped_packets_total',
      help: 'media packets not relayed, by leg and reason: latching (from a source the leg did not latch to), rate (over the call\'s packet rate), unroutable (no address to send to yet)',
      labelNames: ['leg', 'reason'],
      registers: [r],
      collect() {
        const totals = self.#totals();
        this.reset();
        for (const leg of legs) {
          this.inc({ leg, reason: 'latching' }, totals[leg].droppedSource);
          this.inc({ leg, reason: 'rate' }, totals[leg].droppedRate);
          this.inc({ leg, reason: 'unroutable' }, totals[leg].droppedUnroutable);
        }
      },
    });

    const control = o.control;
    if (control !== null) {
      const reasons: readonly [string, keyof ControlCounters][] = [
        ['not_allowed', 'droppedNotAllowed'], ['malformed', 'droppedMalformed'], ['unsigned', 'droppedUnsigned'], ['bad_signature', 'droppedBadSignature'],
        ['stale', 'droppedStale'], ['replay', 'droppedReplay'], ['rate', 'refusedRate'], ['overloaded', 'refusedOverloaded'],
      ];
      new Counter({
        name: 'ringfence_gateway_ng_refused_total',
        help: 'ng datagrams dropped unanswered (not_allowed, malformed, unsigned, bad_signature, stale, replay) or refused (rate, overloaded), by reason',
        labelNames: ['reason'],
        registers: [r],
        collect() {
          this.reset();
          for (const [reason, key] of reasons) this.inc({ reason }, control.counters[key]);
        },
      });
      new Counter({ name: 'ringfence_gateway_ng_cached_replies_total', help: 'ng retransmissions answered from the reply cache (not run twice)', registers: [r], collect() { this.reset(); this.inc(control.counters.repliesFromCache); } });
    }
  }

  /** Deleted calls' figures plus those of the calls in the table now. */
  #totals(): Record<(typeof legs)[number], LegTotals> {
    const out = { A: { ...this.#ended.A }, B: { ...this.#ended.B } };
    const stats = this.#gateway.relay.stats;
    for (const call of this.#gateway.calls.values()) {
      add(out.A, stats.snapshot(call.index * 2));
      add(out.B, stats.snapshot(call.index * 2 + 1));
    }
    return out;
  }
}
