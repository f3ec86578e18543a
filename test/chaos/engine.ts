// One Jepsen-style chaos run over a whole local cluster of real processes: 2 shards × 3
// replicas and a media gateway (layer 1), plus 2 SIP nodes, the agent phones and SIPp
// callers when those roles exist in the tree (layer 2). History-recorded shard clients
// and SIPp calls load the cluster while the nemesis SIGKILLs a process every few seconds
// on a plan drawn from the seed; at the end the histories are judged (exclusivity, lost
// acknowledged changes, leaked reservations, double offers seen by phones, hung calls).
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ClusterConfig } from '../../common/config.js';
import { ProcessSet, shardProcessIds, shardProcessOf, writeLocalClusterConfig, type ProcRole } from '../../cluster/local-cluster.js';
import { hostProcessOf, hostRoleFlags, hostsProcessSet, writeHostsClusterConfig, type HostsClusterFile, type HostsLayout } from '../../cluster/hosts-cluster.js';
import { createNetnsLab, type NetnsLab } from '../../cluster/netns.js';
import { ShardClient } from '../../shards/client/shard-client.js';
import { digestCredentials } from '../../shards/digest-credentials.js';
import type { Command } from '../../shards/types.js';
import { checkHistory, HistoryRecorder, type HistoryEvent, type Violation } from '../support/history.js';
import { sippAvailable } from '../../cluster/sipp/driver.js';
import { pollUntilReady } from './final-state.js';
import { watchLeaders } from './leader-watch.js';
import { planFaults, withExtraFaults } from './nemesis-plan.js';
import { followLeaseExpiries, goneNodesRecoveryS } from './lease-expiries.js';
import { checkRegister, type RegisterVerdict } from './register-check.js';
import { readRegister, runRegisterWriters } from './register-load.js';
import { runNemesis } from './nemesis.js';
import { checkPhoneRecord, type PhoneFindings } from './phone-checks.js';
import { createPrng } from './prng.js';
import { readySweep, runShardLoad, type ShardLoadCounts, type ShardLoadSpec } from './shard-load.js';
import { startSipLoad, type SipLoadResult } from './sip-load.js';
import { countQueueInversions, queueDepthPerSecond, type QueueOrderReport } from './queue-order.js';
import { followQueue } from './queue-follow.js';
import { runQueuePressure, type QueuePressureResult } from './queue-pressure.js';
import { sipFailureCauses } from './sip-failures.js';
import { shardOf } from '../../shards/shard-map.js';
import type { QueueEntry } from '../../shards/types.js';
import type { QueueSnapshot } from '../../shards/rpc/protocol.js';
import { Timeline, type TimelineEvent } from './timeline.js';

export const SERVICE_NUMBER = '5000';
export const PASSWORD_PREFIX = 'agent-';

export type ChaosOptions = Readonly<{
  minutes: number;
  seed: number;
  /** 'auto': SIP layer when `ringfence sip`, `ringfence phones` and SIPp are all there. */
  sip: 'auto' | 'on' | 'off';
  /** Nominal time between two kills. */
  killIntervalMs?: number;
  /** Where the cluster's data and logs go (a fresh temp dir by default; removed unless keep). */
  dir?: string;
  keepData?: boolean;
  log?: (line: string) => void;
  /** Called once processes exist, so a caller can kill them on its own teardown. */
  onProcs?: (procs: ProcessSet) => void;
  /** 'separate' (default): a process per replica. 'co-hosted': 3 processes, each hosting
   * one replica of every shard, so each shard-replica kill takes one replica of both. */
  layout?: 'separate' | 'co-hosted';
  /** Each shard gets a preferredLeader (shard i: its replica i mod 3), so elected leaders
   * hand leadership back to it while the nemesis kills replicas. */
  preferredLeaders?: boolean;
  /** Opt-in nemesis: one SIP node is SIGKILLed for good a third into the load. */
  sipGone?: boolean;
  /** Opt-in nemesis: bursts of session opens evict the shards' client sessions. */
  evictSessions?: boolean;
  evictIntervalMs?: number;
  /** The SIP nodes' --lease-ms (their default when unset; 3000 with sipGone). */
  leaseMs?: number;
  /** Agent breaks that make callers queue (default on with the SIP layer). */
  queuePressure?: boolean;
  /** Hosts in network namespaces (cluster/netns.ts), as root: each runs a store (or a
   * co-hosted shard process), a SIP node and a gateway, and partitions between them join
   * the kills. 0 or unset: every process on loopback, as before. */
  hosts?: number;
  /** Shards (default 2 on loopback; with hosts, 100). */
  shards?: number;
  hostsLayout?: HostsLayout;
}>;

/** The service queue's figures and its order verdict (queue-order.ts says what counts). */
export type ChaosQueueResult = Omit<QueueOrderReport, 'examples'> & Readonly<{
  /** Agent-break phases run, agent breaks in them, and agents left on a break at the end. */
  pressure: QueuePressureResult;
  /** Entries still in the queue after the load ended and every call was over (hung). */
  leftAtEnd: readonly string[];
  examples: readonly string[];
}>;

export type ChaosResult = Readonly<{
  seed: number;
  /** Hosts in network namespaces (0: loopback), shards, and partitions made. */
  hosts: number;
  shards: number;
  partitions: number;
  partitionsByKind: Readonly<Record<string, number>>;
  /** The loopback cluster's replica layout; with hosts, `hostsLayout` says how they sit. */
  layout: 'separate' | 'co-hosted';
  /** With hosts: a store per host, or a shard process per host (null on loopback). */
  hostsLayout: HostsLayout | null;
  preferredLeaders: boolean;
  minutes: number;
  loadMs: number;
  sipIncluded: boolean;
  sipMissingWhy: string | null;
  kills: number;
  killsByFault: Readonly<Record<string, number>>;
  skippedSteps: number;
  restartsFailed: number;
  leaderChanges: number;
  calls: number;
  violations: number;
  leaked: number;
  hung: number;
  violationList: readonly string[];
  shardLoad: ShardLoadCounts;
  historyCounts: ReturnType<typeof checkHistory>['counts'];
  /** The register check: per DN, writes, acknowledged, unknown and the final value. */
  registers: readonly RegisterVerdict[];
  sip: Omit<SipLoadResult, 'results' | 'perSecond'> | null;
  phones: PhoneFindings | null;
  /** Phone calls left up by a SIP-node kill and offered again (not counted as violations). */
  orphaned: readonly string[];
  /** The service queue under the load: figures, inversions (null without the SIP layer). */
  queue: ChaosQueueResult | null;
  /** The SIP nodes' call outcomes (`cdr <outcome>`) and warn lines (`warn <msg>`), counted:
   * what the callers' final 4xx/5xx responses were for (sip-failures.ts). */
  sipFailureCauses: Readonly<Record<string, number>>;
  notReadyAtEnd: readonly string[];
  /** SIP nodes killed for good (never restarted). */
  goneNodes: readonly string[];
  /** Session-eviction bursts made. */
  evictions: number;
  /** Agents the shards freed by lease expiry (change-feed kind 'expireLease'). */
  leaseExpiries: number;
  /** Longest time from a node's kill for good until an agent its lease held was READY. */
  goneAgentsReadyS: number | null;
  /** The SIP nodes' lease and orphan hold, and their sum: the bound on how long after the
   * end every agent must be READY. */
  leaseMs: number | null;
  orphanHoldMs: number;
  /** Seconds from the end of the load (calls stopped, processes back) until every agent
   * was READY; null if some never was within the poll bound. */
  allReadyAfterS: number | null;
  allReadyWithinBound: boolean;
  timeline: readonly TimelineEvent[];
  history: readonly HistoryEvent[];
  loadStartMs: number;
  callsPerSecond: SipLoadResult['perSecond'];
  /** The deepest the service queue was in each second of the load (the HTML's chart). */
  queueDepthPerSecond: readonly number[];
  dir: string;
}>;

const historyDns = Array.from({ length: 16 }, (_, i) => String(2001 + i));
/** One sequential writer each: the register check for lost acknowledged changes. */
const registerDns = Array.from({ length: 4 }, (_, i) => String(2101 + i));
const phoneDns = Array.from({ length: 20 }, (_, i) => String(1001 + i));
const ttlMs = 4000;
/** Every provisioned agent's skills (the service's skill, so any agent can take any call). */
const agentSkills: Readonly<Record<string, number>> = { support: 50 };
/** The bypass check's margin: a node's queue view trails the feed by milliseconds, by up to
 * a second or two while its feed reconnects after a shard leader kill. */
const bypassGraceMs = 2000;
const clockSkewMsMax = 50;
/** Generous: on a loaded 2-core host a role's start (tsx compile included) can take long. */
const roleReadyTimeoutMs = 120_000;

function nodeKillsMsOf(timeline: Timeline, node: string): number[] {
  return timeline.events.filter((e) => e.kind === 'kill' && e.target === node).map((e) => timeline.startMs + e.atMs);
}

function sipPlan(mode: ChaosOptions['sip']): { on: boolean; why: string | null } {
  if (mode === 'off') return { on: false, why: 'SIP layer turned off (--sip off)' };
  if (sippAvailable()) return { on: true, why: null };
  if (mode === 'on') throw new Error('--sip on, but SIPp is missing');
  return { on: false, why: 'SIPp not available' };
}

async function provisionAll(client: ShardClient, config: ClusterConfig, withPhones: boolean): Promise<void> {
  const run = async (dn: string, cmd: Command): Promise<void> => {
    const r = await client.command(dn, cmd, { deadlineMs: 30_000 });
    if (!r.ok) throw new Error(`${cmd.type} ${dn}: ${JSON.stringify(r)}`);
  };
  const agents = [
    ...[...historyDns, ...registerDns].map((dn) => ({ dn, credentials: null })),
    ...(withPhones ? phoneDns.map((dn) => ({ dn, credentials: digestCredentials(dn, config.realm, `${PASSWORD_PREFIX}${dn}`) })) : []),
  ];
  const queue = [...agents];
  const worker = async (): Promise<void> => {
    for (let a = queue.shift(); a !== undefined; a = queue.shift()) {
      await run(a.dn, { type: 'provision', dn: a.dn, name: `Agent ${a.dn}`, skills: agentSkills, wrapUpMs: 0, maxNoAnswer: 0, credentials: a.credentials });
      await run(a.dn, { type: 'login', dn: a.dn });
      await run(a.dn, { type: 'ready', dn: a.dn });
    }
  };
  await Promise.all(Array.from({ length: 6 }, worker));
}

export async function runChaos(opts: ChaosOptions): Promise<ChaosResult> {
  const log = opts.log ?? (() => {});
  const sip = sipPlan(opts.sip);
  const loadMs = Math.round(opts.minutes * 60_000);
  const dir = opts.dir ?? mkdtempSync(join(tmpdir(), `ringfence-chaos-${opts.seed}-`));
  mkdirSync(dir, { recursive: true });
  const hostCount = opts.hosts ?? 0;
  const shardCount = opts.shards ?? (hostCount > 0 ? 100 : 2);
  const services = [{ number: SERVICE_NUMBER, skill: 'support' }];
  let lab: NetnsLab | null = null;
  let hostsFile: HostsClusterFile | null = null;
  let path: string;
  let config: ClusterConfig;
  let procs: ProcessSet;
  if (hostCount > 0) {
    lab = createNetnsLab(hostCount);
    try {
      hostsFile = await writeHostsClusterConfig({ dir, lab, shards: shardCount, layout: opts.hostsLayout ?? 'stores', sip: sip.on, gateways: true, services });
    } catch (err) {
      lab.teardown();
      throw err;
    }
    ({ path, config } = hostsFile);
    procs = hostsProcessSet(lab, hostsFile, { logFile: join(dir, 'processes.log') });
  } else {
    ({ path, config } = await writeLocalClusterConfig({ dir, shards: shardCount, sipNodes: sip.on ? 2 : 0, gateways: 1, services, preferredLeaders: opts.preferredLeaders ?? false }));
    procs = new ProcessSet(path, { logFile: join(dir, 'processes.log') });
  }
  opts.onProcs?.(procs);
  const layout = opts.layout ?? 'separate';
  const shardRole: 'shard' | 'store' = hostsFile?.layout === 'stores' ? 'store' : 'shard';
  const shardHosts = hostsFile ? hostsFile.placement.filter((p) => p.role === shardRole).map((p) => p.id) : shardProcessIds(config, layout === 'co-hosted');
  const hostOf = (replicaId: string): string => (hostsFile ? hostProcessOf(hostsFile, replicaId) : shardProcessOf(shardHosts, replicaId));
  /** Flags a process is (re)started with: a SIP node's timers, a gateway's host address. */
  const flagsOf = (role: ProcRole, id: string): string[] => {
    const placed = hostsFile?.placement.find((p) => p.id === id);
    return [...(role === 'sip' ? sipFlags : []), ...(placed && lab ? hostRoleFlags(lab, placed) : [])];
  };
  /** The address of the root namespace's side: where SIPp and the phones bind. */
  const localIp = lab?.rootIp ?? '127.0.0.1';
  const killAll = (): void => procs.killAllNow();
  process.once('exit', killAll);
  const client = new ShardClient({ shards: config.shards, auth: { secret: config.secret, principal: 'launcher' }, attemptTimeoutMs: 1000, deadlineMs: 10_000 });
  // The phones probe their dialogs every 3 s, so an agent whose call died with its node is
  // held 5 s before it is offered again.
  const orphanHoldMs = 5000;
  const leaseMs = opts.leaseMs ?? (opts.sipGone ? 3000 : null);
  // Both nodes append their call records to one file (O_APPEND: whole lines).
  const cdrPath = join(dir, 'cdr.jsonl');
  const sipFlags = ['--cdr', cdrPath, '--ring-timeout-ms', '2000', '--queue-wait-ms', '20000', '--orphan-hold-ms', String(orphanHoldMs), ...(leaseMs === null ? [] : ['--lease-ms', String(leaseMs)])];
  const recordPath = join(dir, 'phones.jsonl');
  try {
    log(lab
      ? `cluster in ${dir}: ${hostCount} hosts in network namespaces (${lab.hosts.map((h) => `${h.name} ${h.ip}`).join(', ')}), ${shardCount} shards x 3 replicas on ${shardHosts.length} ${shardRole} processes, a gateway${sip.on ? ' and a SIP node' : ''} per host${sip.on ? ', 20 agent phones' : ''}; partitions join the kills`
      : `cluster in ${dir}: ${shardCount} shards x 3 replicas in ${shardHosts.length} processes (${layout}${opts.preferredLeaders ? ', preferred leaders' : ''}), 1 gateway${sip.on ? ', 2 SIP nodes, 20 agent phones' : ''}`);
    await Promise.all([
      ...shardHosts.map((id) => procs.start(shardRole, id, flagsOf(shardRole, id), roleReadyTimeoutMs)),
      ...config.gateways.map((g) => procs.start('gateway', g.id, flagsOf('gateway', g.id), roleReadyTimeoutMs)),
    ]);
    await provisionAll(client, config, sip.on);
    let sipTargets: string[] = [];
    if (sip.on) {
      const readies = await Promise.all(config.sip.map((n) => procs.start('sip', n.id, flagsOf('sip', n.id), roleReadyTimeoutMs)));
      sipTargets = readies.map((r, i) => `${lab ? config.sip[i]!.udp.host : '127.0.0.1'}:${Number(r.udp ?? config.sip[i]!.udp.port)}`);
      await procs.start('phones', 'phones1', ['--dns', `${phoneDns[0]}-${phoneDns[phoneDns.length - 1]}`, '--password-prefix', PASSWORD_PREFIX, '--record', recordPath, '--answer-after-ms', '300', '--expires-s', '600', '--dialog-probe-ms', '3000', '--host', localIp], roleReadyTimeoutMs);
    }
    log(`cluster ready; load for ${loadMs / 1000} s with a kill about every ${(opts.killIntervalMs ?? 5000) / 1000} s (seed ${opts.seed})`);

    const prng = createPrng(opts.seed);
    const planSpec = { loadMs, intervalMs: opts.killIntervalMs ?? 5000, firstAtMs: 3000, downMsMin: 300, downMsMax: 1500, withSip: sip.on, withPartitions: lab !== null };
    const randomPlan = planFaults(prng.fork('nemesis'), planSpec);
    const extra = { sipGone: opts.sipGone ?? false, evictSessions: opts.evictSessions ?? false, evictIntervalMs: opts.evictIntervalMs ?? 20_000 };
    const plan = extra.sipGone || extra.evictSessions ? withExtraFaults(randomPlan, prng.fork('nemesis-extra'), planSpec, extra) : randomPlan;
    const expiries = followLeaseExpiries(client);
    const queueShard = shardOf(SERVICE_NUMBER, config.shards.map((s) => s.id));
    const queueFeed = sip.on ? followQueue({ client, queueShard, service: SERVICE_NUMBER, sipNodeIds: config.sip.map((n) => n.id), serviceDns: new Set(phoneDns) }) : null;
    const history = new HistoryRecorder(() => Date.now());
    const timeline = new Timeline(Date.now());
    const stopAt = timeline.startMs + loadMs;
    const stopped = (): boolean => Date.now() >= stopAt;
    const loadSpec: ShardLoadSpec = { client, history, prng: prng.fork('load'), dns: historyDns, reserveWorkers: 16, stateWorkers: 3, ttlMs, commandDeadlineMs: 3000, stopped };
    const stopWatch = watchLeaders({ config, procs, client, timeline, pollMs: 1000, hostOf });
    const sipLoad = sip.on
      // About 6 calls/s in all, whether over 2 SIP nodes or 3.
      ? await startSipLoad({ dir: join(dir, 'sipp'), targets: sipTargets, service: SERVICE_NUMBER, nodeIds: config.sip.map((n) => n.id), recvTimeoutMs: 45_000, ratePerNode: config.sip.length > 2 ? 2 : 3, concurrentPerNodeMax: 12, holdMsMin: 500, holdMsSpread: 1500, safetyTimeoutS: Math.ceil(loadMs / 1000) + 300, localIp })
      : null;
    const pressureSpec = { client, dns: phoneDns, prng: prng.fork('queue-pressure'), stopped, firstAtMs: 6000, periodMs: 20_000, breakMs: 8000, onBreak: 15, backGapMs: 300, log };
    const [shardLoad, registerOps, nemesis, pressure] = await Promise.all([
      runShardLoad(loadSpec),
      runRegisterWriters({ client, history, prng: prng.fork('registers'), dns: registerDns, deadlineMs: 15_000, stopped }),
      runNemesis({
        config, procs, client, timeline, plan, stopped, onLog: log,
        restartFlags: (role, id) => flagsOf(role, id), shardRole, ...(lab ? { lab } : {}),
        sipNodeIds: config.sip.map((n) => n.id), gatewayIds: config.gateways.map((g) => g.id), hostOf,
      }),
      sip.on && opts.queuePressure !== false ? runQueuePressure(pressureSpec) : Promise.resolve(null),
    ]);
    log(`load stopped: ${shardLoad.grants} grants, ${shardLoad.denials} denials, ${shardLoad.unknown} unknown outcomes; ${nemesis.kills} kills, ${nemesis.skipped} steps skipped`);
    // Callers get time for calls in progress to end: hold + ring + queue wait, with margin.
    const sipResult = sipLoad ? await sipLoad.stop(60_000) : null;
    const leaderChanges = await stopWatch();

    // Every process back (the nemesis restarted its victims; a failed restart is retried).
    for (const p of [...procs.procs.values()]) if (!procs.isRunning(p.id) && p.role !== 'phones' && !nemesis.gone.includes(p.id)) await procs.start(p.role, p.id, flagsOf(p.role, p.id), roleReadyTimeoutMs);

    const watched = new Set([...historyDns, ...(sip.on ? phoneDns : [])]);
    const endMs = Date.now();
    const finalAgents = await pollUntilReady(client, watched, ttlMs + 30_000, async (agents) => {
      const breaks = agents.filter((a) => historyDns.includes(a.dn) && a.state === 'NOT_READY').map((a) => a.dn);
      if (breaks.length > 0) await readySweep(loadSpec, breaks);
    });
    const notReadyAtEnd = finalAgents.filter((a) => watched.has(a.dn) && a.state !== 'READY').map((a) => `${a.dn}:${a.state}`);
    const allReadyAfterS = notReadyAtEnd.length === 0 ? (Date.now() - endMs) / 1000 : null;
    const readyBoundMs = (leaseMs ?? 15_000) + orphanHoldMs;
    const allReadyWithinBound = allReadyAfterS !== null && allReadyAfterS * 1000 <= readyBoundMs;
    log(`every agent READY ${allReadyAfterS === null ? 'NOT reached' : `${allReadyAfterS.toFixed(1)} s`} after the end (bound: lease + orphan hold = ${readyBoundMs / 1000} s)`);
    const expiryReport = expiries.stop();
    const leftAtEnd = sip.on ? await queueLeftAtEnd(client, queueShard, (leaseMs ?? 15_000) + 5000) : [];
    const queueEvents = queueFeed?.stop() ?? [];
    const events = history.events();
    const report = checkHistory(events, { finalAgents: finalAgents.filter((a) => historyDns.includes(a.dn) || registerDns.includes(a.dn)), clockSkewMsMax });
    const registers: RegisterVerdict[] = [];
    for (const dn of registerDns) registers.push(checkRegister(dn, registerOps.get(dn) ?? [], await readRegister(client, dn)));
    const describe = (v: Violation): string => `${v.kind} ${v.dn ?? ''}: ${v.message}`;
    const leakedList = report.violations.filter((v) => v.kind === 'leaked-reservation');
    const violationList = report.violations.filter((v) => v.kind !== 'leaked-reservation').map(describe);
    for (const r of registers) if (r.lost !== null) violationList.push(`lost-change (register) ${r.lost}`);
    // Held by a node that is gone for good: its lease should have freed them (hung).
    const hungAgents = finalAgents.filter((a) => (a.state === 'RESERVED' || a.state === 'BUSY') && a.owner != null && nemesis.gone.includes(a.owner));
    const leakedPhones = finalAgents.filter((a) => sip.on && phoneDns.includes(a.dn) && (a.state === 'RESERVED' || a.state === 'BUSY') && !hungAgents.includes(a));
    // The load's owners hold no lease: a lease expiry freeing one of their agents is a bug.
    for (const e of expiryReport.records) if (historyDns.includes(e.dn) || registerDns.includes(e.dn)) violationList.push(`lease-expiry of ${e.dn}, whose grants belong to owners that hold no lease`);
    const goneAgentsReadyS = goneNodesRecoveryS(nemesis.gone, (n) => nodeKillsMsOf(timeline, n), expiryReport);
    const phones = sip.on ? checkPhoneRecord(recordPath) : null;
    const nodeKillsMs = (node: string): number[] => nodeKillsMsOf(timeline, node);
    // A SIP node whose host was cut off could not reach its shards' majorities: for call
    // timeouts and queue order (liveness), as if killed at the cut. Safety is judged as ever.
    const sipHostOf = (node: string): string | undefined => hostsFile?.placement.find((p) => p.id === node)?.host;
    const nodeCutsMs = (node: string): number[] => [...nodeKillsMs(node), ...timeline.events.filter((e) => e.kind === 'partition' && sipHostOf(node) !== undefined && e.hosts.includes(sipHostOf(node)!)).map((e) => timeline.startMs + e.atMs)].sort((a, b) => a - b);
    const orphaned: string[] = [];
    if (phones) {
      for (const ep of phones.episodes) {
        const node = sipResult?.callers.find((c) => c.port === ep.heldCallerPort)?.node ?? null;
        const killedMs = node === null ? undefined : nodeKillsMs(node).find((k) => k >= ep.heldInviteAtMs && k <= ep.firstOfferAtMs);
        const what = `phone ${ep.dn} was offered ${ep.offers} call(s) from +${((ep.firstOfferAtMs - timeline.startMs) / 1000).toFixed(1)}s while it still held call ${ep.heldCallId} (${ep.heldAnswered ? 'answered' : 'ringing'} since +${((ep.heldInviteAtMs - timeline.startMs) / 1000).toFixed(1)}s, via ${node ?? 'unknown node'})`;
        // A SIGKILLed B2BUA cannot end its legs: the phone keeps a dead call that nothing
        // holds any more. Counted apart; anything else is a double offer by a live cluster.
        if (killedMs !== undefined) orphaned.push(`orphaned by the kill of ${node} at +${((killedMs - timeline.startMs) / 1000).toFixed(1)}s: ${what}`);
        else violationList.push(`double-offer: ${what}`);
      }
    }
    if (sipResult) {
      if (sipResult.created === 0) violationList.push('sip: SIPp placed no call at all');
      for (const c of sipResult.callers) {
        if (c.timeouts > 0 && nodeCutsMs(c.node).length === 0) violationList.push(`sip: ${c.timeouts} calls through ${c.node}, never killed${lab ? ' or cut off' : ''}, timed out waiting for a response`);
      }
    }
    let queue: ChaosQueueResult | null = null;
    if (sip.on) {
      const phoneSkills = new Set(phoneDns);
      const cuts = timeline.events.flatMap((e) => (e.kind === 'partition' ? [{ step: e.step, fromMs: timeline.startMs + e.atMs }] : []));
      const partitions = cuts.map((c) => ({ fromMs: c.fromMs, toMs: timeline.startMs + (timeline.events.find((e) => e.kind === 'heal' && e.step === c.step)?.atMs ?? loadMs) }));
      const order = countQueueInversions(queueEvents, { skillsOf: (dn) => (phoneSkills.has(dn) ? agentSkills : null), killsOf: nodeCutsMs, graceMs: bypassGraceMs, partitions });
      const at = (ms: number): string => `+${((ms - timeline.startMs) / 1000).toFixed(1)}s`;
      const examples = order.examples.map((i) => `${i.kind === 'claim' ? 'claim inversion' : 'bypass'} at ${at(i.atMs)}: agent ${i.dn} went to ${i.served} while the earlier ${i.waiting} (${i.waitingOwner}) waited unclaimed${i.killedNode ? ` [${i.waitingOwner} had been killed: not counted]` : i.duringPartition ? ' [during a partition: counted apart]' : ''}`);
      queue = { ...order, examples, pressure: pressure ?? { breaks: 0, agentBreaks: 0, notReadyRefused: 0, readyRetries: 0, stillOnBreak: [] }, leftAtEnd: leftAtEnd.map((e) => `${e.callId} (${e.owner}, enqueued ${at(e.enqueuedAtMs)}${e.claim ? `, claimed for ${e.claim.dn}` : ''})`) };
    }
    const killsByFault: Record<string, number> = {};
    for (const e of timeline.events) if (e.kind === 'kill') killsByFault[e.fault] = (killsByFault[e.fault] ?? 0) + 1;
    const partitionsByKind: Record<string, number> = {};
    for (const e of timeline.events) if (e.kind === 'partition') partitionsByKind[e.fault] = (partitionsByKind[e.fault] ?? 0) + 1;
    const { results: _results, perSecond, ...sipSummary } = sipResult ?? { results: [], perSecond: [] };
    return {
      seed: opts.seed,
      hosts: hostCount,
      shards: shardCount,
      partitions: nemesis.partitions,
      partitionsByKind,
      layout,
      hostsLayout: hostsFile?.layout ?? null,
      preferredLeaders: opts.preferredLeaders ?? false,
      minutes: opts.minutes,
      loadMs,
      sipIncluded: sip.on,
      sipMissingWhy: sip.why,
      kills: nemesis.kills,
      killsByFault,
      skippedSteps: nemesis.skipped,
      restartsFailed: nemesis.restartsFailed,
      leaderChanges,
      calls: sipResult?.created ?? 0,
      violations: violationList.length,
      leaked: leakedList.length + leakedPhones.length + notReadyAtEnd.filter((s) => !/:(RESERVED|BUSY)$/.test(s)).length,
      hung: (sipResult?.hung ?? 0) + hungAgents.length + (queue?.leftAtEnd.length ?? 0),
      violationList: [...violationList, ...leakedList.map(describe), ...leakedPhones.map((a) => `leaked phone agent ${a.dn} still ${a.state}`), ...notReadyAtEnd.map((s) => `not READY at the end: ${s}`), ...hungAgents.map((a) => `hung agent ${a.dn} still ${a.state}, held by ${a.owner}, gone for good`), ...(queue?.leftAtEnd ?? []).map((e) => `hung queue entry ${e}: still queued after every call ended`)],
      shardLoad,
      historyCounts: report.counts,
      registers,
      sip: sipResult ? (sipSummary as Omit<SipLoadResult, 'results' | 'perSecond'>) : null,
      phones,
      orphaned,
      queue,
      sipFailureCauses: sip.on ? sipFailureCauses(cdrPath, join(dir, 'processes.log')) : {},
      notReadyAtEnd,
      goneNodes: nemesis.gone,
      evictions: nemesis.evictions,
      leaseExpiries: expiryReport.records.length,
      goneAgentsReadyS,
      leaseMs,
      orphanHoldMs,
      allReadyAfterS,
      allReadyWithinBound,
      timeline: timeline.events,
      history: events,
      loadStartMs: timeline.startMs,
      callsPerSecond: perSecond,
      queueDepthPerSecond: queueDepthPerSecond(queueEvents, timeline.startMs, Math.ceil(loadMs / 1000) + 1),
      dir,
    };
  } finally {
    client.close();
    await procs.stopAll(3000);
    lab?.teardown();
    process.removeListener('exit', killAll);
    if (!opts.keepData && opts.dir === undefined) rmSync(dir, { recursive: true, force: true });
  }
}

/** The service queue's entries once the load is over, polled until empty or `boundMs`
 * passed (a restarted node's entries go at its restart, a dead one's with its lease). */
async function queueLeftAtEnd(client: ShardClient, queueShard: string, boundMs: number): Promise<QueueEntry[]> {
  const deadline = Date.now() + boundMs;
  for (;;) {
    let entries: readonly QueueEntry[] | null = null;
    try {
      entries = ((await client.read(queueShard, { type: 'queue' }, 'linearizable', { deadlineMs: 10_000 })) as QueueSnapshot).entries.filter((e) => e.service === SERVICE_NUMBER);
    } catch {
      // a restarted replica may still be catching up; read again
    }
    if (entries !== null && (entries.length === 0 || Date.now() >= deadline)) return [...entries];
    if (entries === null && Date.now() >= deadline) throw new Error(`could not read the queue of ${SERVICE_NUMBER} back from ${queueShard}`);
    await sleep(500);
  }
}
