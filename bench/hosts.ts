// `npm run bench -- hosts [--json] [--groups 2,100] [--seconds 6] [--repeat 3]
//                         [--concurrency 64] [--storage level|memory] [--transport loop|tcp]`
// What the Raft layer costs per group count, without processes or shards: three RaftHosts
// in this one process (three stores), wired by a LoopRaftHub (every message still goes
// through the binary codec) or by TcpRaftTransports over loopback, each with one shared
// LevelDB log fsync'd as a store's is (or memory storage), N groups with one replica per
// store, the stores' Raft timing, leaders spread evenly over the stores. A closed loop of
// `concurrency` workers proposes small entries to the leaders of random groups. Each
// group count runs `repeat` times, alternating with the others so they see the same
// machine; the report gives the median CPU per committed proposal (all of this process's
// threads: the LevelDB writes are in it), and per proposal the Readies and Raft messages
// it took. Spreading the same load over more groups turns batched Readies into one Ready
// (and ~one message) per entry, so the ratio between group counts is the per-group price
// of the store's Ready path (issue #20's throughput bar).

import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { raftElectionTimeoutTicksDefault, raftHeartbeatTicksDefault, raftTickMsDefault } from '../common/limits.js';
import { RaftHost } from '../raft/group/host.js';
import type { StateMachine } from '../raft/group/group-options.js';
import type { RaftGroup } from '../raft/group/group.js';
import { MemoryRaftStorage } from '../raft/storage/memory-storage.js';
import { SharedLogDb } from '../raft/storage/shared-log.js';
import { LoopRaftHub } from '../raft/transport/loop-transport.js';
import { TcpRaftTransport } from '../raft/transport/tcp-transport.js';
import type { RaftTransport } from '../raft/transport/transport.js';
import type { Entry } from '../raft/types.js';
import type { BenchArgs, BenchReport } from './bench-args.js';
import { intFlag } from '../common/args.js';
import { median, round } from './stats.js';

const STORES = ['a', 'b', 'c'];
const storeOf = (member: string): string => member.slice(member.lastIndexOf('-') + 1);
const leaderWaitMs = 60_000;

/** Counts what it applies; its snapshot is the count. */
class CountingMachine implements StateMachine {
  applied = 0;
  apply(_entry: Entry): unknown {
    return ++this.applied;
  }
  snapshot(): Uint8Array {
    return new TextEncoder().encode(String(this.applied));
  }
  restore(data: Uint8Array): void {
    this.applied = Number(new TextDecoder().decode(data));
  }
}

type Run = { groups: number; opsPerSec: number; cpuUsPerOp: number; readiesPerOp: number; messagesPerOp: number };

type Options = { storage: 'level' | 'memory'; transport: 'loop' | 'tcp'; concurrency: number; seconds: number };

/** Three stores' transports, each knowing the other two. */
async function connect(kind: Options['transport']): Promise<RaftTransport[]> {
  if (kind === 'loop') {
    const hub = new LoopRaftHub();
    const loops = STORES.map((id) => hub.transport(id, { route: storeOf }));
    for (const a of loops) for (const b of loops) if (a !== b) a.setPeer(b.id);
    return loops;
  }
  const tcps: TcpRaftTransport[] = [];
  for (const id of STORES) tcps.push(await TcpRaftTransport.listen({ id, host: '127.0.0.1', port: 0, secret: 'bench-hosts-secret', peers: {}, route: storeOf }));
  for (const a of tcps) for (const b of tcps) if (a !== b) a.setPeer(b.id, { host: '127.0.0.1', port: b.port });
  return tcps;
}

async function runOnce(groups: number, { storage, transport, concurrency, seconds }: Options): Promise<Run> {
  const dir = await mkdtemp(join(tmpdir(), 'ringfence-bench-hosts-'));
  const logs: SharedLogDb[] = [];
  const hosts: RaftHost[] = [];
  const transports = await connect(transport);
  try {
    for (const [i, id] of STORES.entries()) {
      const log = storage === 'level' ? await SharedLogDb.open(join(dir, id)) : null;
      if (log !== null) logs.push(log);
      hosts.push(new RaftHost({
        id,
        transport: transports[i]!,
        storage: (g) => (log !== null ? log.group(g) : new MemoryRaftStorage()),
        tickMs: raftTickMsDefault,
        raft: { electionTimeoutTicks: raftElectionTimeoutTicksDefault, heartbeatTicks: raftHeartbeatTicksDefault },
      }));
    }
    const ids = Array.from({ length: groups }, (_, i) => `g${i}`);
    for (const [i, host] of hosts.entries()) {
      for (const g of ids) await host.openGroup({ groupId: g, id: `${g}-${STORES[i]}`, initialConf: { voters: STORES.map((s) => `${g}-${s}`), learners: [] }, stateMachine: new CountingMachine() });
    }
    // Leaders spread evenly over the stores (group i on store i mod 3), as a balanced store
    // cluster has them: where the elections happened to put them moved the 2-group figure
    // by a factor of two (both on one store, or on two).
    const leaderOf = new Map<string, RaftGroup>();
    const findLeader = (g: string): RaftGroup | null => hosts.map((h) => h.groups.get(g)).find((r) => r?.isLeader()) ?? null;
    const deadline = performance.now() + leaderWaitMs;
    for (const [i, g] of ids.entries()) {
      const preferred = hosts[i % STORES.length]!.groups.get(g)!;
      while (!preferred.isLeader()) {
        if (performance.now() > deadline) throw new Error(`bench hosts: group ${g} has no leader on store ${STORES[i % STORES.length]} after ${leaderWaitMs} ms`);
        const leader = findLeader(g);
        if (leader !== null) await leader.transferLeadership(preferred.status().id).catch(() => undefined);
        else await new Promise((r) => setTimeout(r, 20));
      }
      leaderOf.set(g, preferred);
    }
    const counts = () => hosts.reduce((a, h) => {
      const s = h.stats();
      return { readies: a.readies + s.readies, messages: a.messages + s.messagesSent };
    }, { readies: 0, messages: 0 });
    const data = new TextEncoder().encode('reserve 4001');
    let ops = 0;
    let stopped = false;
    const worker = async (): Promise<void> => {
      while (!stopped) {
        const g = ids[Math.floor(Math.random() * ids.length)]!;
        const leader = leaderOf.get(g)!;
        try {
          await leader.propose(data);
          ops++;
        } catch {
          // A leadership change on a loaded machine: find the new leader, go on.
          await new Promise((r) => setTimeout(r, 10));
          const now = findLeader(g);
          if (now !== null) leaderOf.set(g, now);
        }
      }
    };
    const before = counts();
    const cpuBefore = process.cpuUsage();
    const t0 = performance.now();
    const workers = Array.from({ length: concurrency }, worker);
    await new Promise((r) => setTimeout(r, seconds * 1000));
    stopped = true;
    await Promise.all(workers);
    const elapsedMs = performance.now() - t0;
    const cpu = process.cpuUsage(cpuBefore);
    const after = counts();
    if (ops === 0) throw new Error(`bench hosts: nothing committed in ${seconds} s at ${groups} groups`);
    return {
      groups,
      opsPerSec: round(ops / (elapsedMs / 1000), 0),
      cpuUsPerOp: round((cpu.user + cpu.system) / ops, 1),
      readiesPerOp: round((after.readies - before.readies) / ops, 2),
      messagesPerOp: round((after.messages - before.messages) / ops, 2),
    };
  } finally {
    for (const h of hosts) await h.close();
    for (const t of transports) await t.close();
    for (const l of logs) await l.close();
    await rm(dir, { recursive: true, force: true });
  }
}

function groupCounts(v: string | undefined): number[] {
  if (v === undefined) return [2, 100];
  const counts = v.split(',').map(Number);
  if (counts.length === 0 || counts.some((n) => !Number.isInteger(n) || n < 1 || n > 1000)) throw new Error(`--groups must be a list of integers from 1 to 1000, got ${v}`);
  return counts;
}

export async function runBench(args: BenchArgs): Promise<BenchReport> {
  const groups = groupCounts(args.flags.get('groups'));
  const storage = args.flags.get('storage') ?? 'level';
  if (storage !== 'level' && storage !== 'memory') throw new Error(`--storage must be level or memory, got ${storage}`);
  const seconds = args.seconds ?? 6;
  const repeat = intFlag(args.flags.get('repeat'), 'repeat', 1, 20, 3);
  const concurrency = intFlag(args.flags.get('concurrency'), 'concurrency', 1, 1024, 64);
  const transport = args.flags.get('transport') ?? 'loop';
  if (transport !== 'loop' && transport !== 'tcp') throw new Error(`--transport must be loop or tcp, got ${transport}`);
  const runs: Run[] = [];
  for (let r = 0; r < repeat; r++) {
    // Alternate the order each round, so neither count always runs on a warmer process.
    for (const n of r % 2 === 0 ? groups : [...groups].reverse()) {
      const run = await runOnce(n, { storage, transport, concurrency, seconds });
      runs.push(run);
      args.log(`[bench hosts] ${String(n).padStart(4)} groups, round ${r + 1}/${repeat}: ${run.opsPerSec} proposals/s, ${run.cpuUsPerOp} us CPU each, ${run.readiesPerOp} Readies and ${run.messagesPerOp} messages each`);
    }
  }
  const results = groups.map((n) => {
    const mine = runs.filter((x) => x.groups === n);
    const pick = (k: keyof Run) => round(median(mine.map((x) => x[k])), 2);
    return { groups: n, opsPerSec: pick('opsPerSec'), cpuUsPerOp: pick('cpuUsPerOp'), readiesPerOp: pick('readiesPerOp'), messagesPerOp: pick('messagesPerOp') };
  });
  const base = results[0]!;
  for (const r of results.slice(1)) args.log(`[bench hosts] ${r.groups} groups against ${base.groups}: ${round(r.cpuUsPerOp / base.cpuUsPerOp, 2)}x the CPU per proposal (medians of ${repeat})`);
  return { bench: 'hosts', storage, transport, concurrency, seconds, repeat, results };
}
