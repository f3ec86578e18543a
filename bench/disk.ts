// `npm run bench -- disk [--dir PATH] [--writes N] [--seconds S] [--json]`: what the
// store's Raft log writes cost on this disk, through the store's own write path
// (SharedLogDb: every group's save of one event-loop turn joins one LevelDB batch, synced
// once if any save asks for it). etcd's operators measure their disk with fio's fdatasync
// test before trusting it with a cluster; this is that check for a store, and it gives the
// figures the reserve and calls benches' per-cycle counts are read against:
//   1 group × 1 entry, synced     a Ready of one command on a quiet store (a follower's save)
//   1 group × 1 entry, unsynced   the same without the fsync: the difference is one fsync
//   1 group × 30 entries, synced  a Ready of thirty commands (a busy group)
//   100 groups × 1 entry, synced  one turn of 100 groups: one shared batch, one fsync
//   64 writers, 100 groups, compacting  a busy store's log: 64 closed-loop writers each
//                                 saving one synced entry to a random group, every group
//                                 compacting its log each 300 entries (a store's share at
//                                 100 shards), so range deletes run beside the saves
// Each case writes up to --writes batches (default 2000; 500 for 100 groups; 20 times as
// many saves for the compacting case) one after the other (after 50 unmeasured), within
// --seconds (default 10) each, and reports the latency of a batch (p50, p99; of a save in
// the compacting case) and the CPU the process spent per batch and per entry: user and
// system time of all its threads, so the fsync's kernel time on LevelDB's thread is in it.
// `fsyncCpuUs` is the synced case's CPU per batch less the unsynced one's. --dir puts the log where the store's
// data would go (default: a fresh directory under the system's temp dir), removed after.

import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { intFlag } from '../common/args.js';
import { SharedLogDb } from '../raft/storage/shared-log.js';
import type { RaftStorage } from '../raft/storage/storage.js';
import type { Entry } from '../raft/types.js';
import type { BenchArgs, BenchReport } from './bench-args.js';
import { round, summarizeLatencies } from './stats.js';

/** A reservation command's encoded size in the log, about. */
const ENTRY_DATA_BYTES = 200;
const WARMUP_BATCHES = 50;

type DiskCase = Readonly<{ name: string; groups: number; entriesPerGroup: number; sync: boolean }>;
export type DiskRow = {
  case: string;
  groups: number;
  entriesPerBatch: number;
  sync: boolean;
  batches: number;
  /** LevelDB writes and fsyncs the batches took (the log's own counters). */
  writes: number;
  syncs: number;
  p50Ms: number;
  p99Ms: number;
  cpuUsPerBatch: number;
  cpuUsPerEntry: number;
};

const SYNCED_ALONE: DiskCase = { name: '1 group x 1 entry, synced', groups: 1, entriesPerGroup: 1, sync: true };
const UNSYNCED_ALONE: DiskCase = { name: '1 group x 1 entry, unsynced', groups: 1, entriesPerGroup: 1, sync: false };
const SHARED_BATCH: DiskCase = { name: '100 groups x 1 entry, synced', groups: 100, entriesPerGroup: 1, sync: true };
const CASES: readonly DiskCase[] = [
  SYNCED_ALONE,
  UNSYNCED_ALONE,
  { name: '1 group x 30 entries, synced', groups: 1, entriesPerGroup: 30, sync: true },
  SHARED_BATCH,
];

function cpuUs(): number {
  const u = process.cpuUsage();
  return u.user + u.system;
}

/** `count` groups' storages on the shared log, loaded, named `prefix`0, `prefix`1, ... */
async function openGroups(db: SharedLogDb, prefix: string, count: number): Promise<RaftStorage[]> {
  const groups: RaftStorage[] = [];
  for (let g = 0; g < count; g++) {
    const storage = db.group(`${prefix}${g}`);
    await storage.load();
    groups.push(storage);
  }
  return groups;
}

async function runCase(db: SharedLogDb, c: DiskCase, caseNo: number, writesMax: number, secondsMax: number): Promise<DiskRow> {
  const groups = await openGroups(db, `c${caseNo}g`, c.groups);
  const data = new Uint8Array(ENTRY_DATA_BYTES).fill(7);
  let next = 1;
  /** One batch: every group saves in the same turn, as a store's groups do. */
  const batch = (): Promise<unknown> => {
    const first = next;
    next += c.entriesPerGroup;
    const entries: Entry[] = [];
    for (let i = first; i < next; i++) entries.push({ term: 1, index: i, kind: 'normal', timestampMs: 0, data });
    return Promise.all(groups.map((s) => s.save({ hardState: { term: 1, vote: 'a', commit: first - 1 }, entries, snapshot: null }, c.sync)));
  };
  // Unmeasured: the first batches of a case pay for compiling its code path.
  for (let i = 0; i < Math.min(WARMUP_BATCHES, writesMax); i++) await batch();
  const before = { ...db.stats };
  const latenciesMs: number[] = [];
  let cpu = 0;
  const deadline = performance.now() + secondsMax * 1000;
  while (latenciesMs.length < writesMax && performance.now() < deadline) {
    const cpu0 = cpuUs();
    const t0 = performance.now();
    await batch();
    latenciesMs.push(performance.now() - t0);
    cpu += cpuUs() - cpu0;
  }
  const after = db.stats;
  for (const s of groups) await s.close();
  const batches = latenciesMs.length;
  const lat = summarizeLatencies(latenciesMs);
  return {
    case: c.name, groups: c.groups, entriesPerBatch: c.groups * c.entriesPerGroup, sync: c.sync, batches,
    writes: after.writes - before.writes, syncs: after.syncs - before.syncs,
    p50Ms: round(lat.p50Ms, 3), p99Ms: round(lat.p99Ms, 3),
    cpuUsPerBatch: round(cpu / batches, 1), cpuUsPerEntry: round(cpu / (batches * c.groups * c.entriesPerGroup), 1),
  };
}

export type CompactingRow = {
  case: string;
  saves: number;
  savesPerSec: number;
  compactions: number;
  writes: number;
  syncs: number;
  /** One save's latency, from the call to its durable write. */
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  cpuUsPerSave: number;
};

const COMPACTING = { name: '64 writers, 100 groups, compacting', groups: 100, writers: 64, compactEvery: 300 };

async function runCompacting(db: SharedLogDb, savesMax: number, secondsMax: number): Promise<CompactingRow> {
  const groups = await openGroups(db, 'compacting-g', COMPACTING.groups);
  const data = new Uint8Array(ENTRY_DATA_BYTES).fill(7);
  const lastIndex = new Array<number>(groups.length).fill(0);
  const snapIndex = new Array<number>(groups.length).fill(0);
  const snapshotData = new Uint8Array(3000); // 20 agents' worth, about
  const compactions: Promise<void>[] = [];
  const latenciesMs: number[] = [];
  let issued = 0;
  const before = { ...db.stats };
  const cpu0 = cpuUs();
  const t0 = performance.now();
  const deadline = t0 + secondsMax * 1000;
  const writer = async (): Promise<void> => {
    while (issued < savesMax && performance.now() < deadline) {
      issued++;
      const g = Math.floor(Math.random() * groups.length);
      const index = ++lastIndex[g]!;
      const start = performance.now();
      await groups[g]!.save({ hardState: null, entries: [{ term: 1, index, kind: 'normal', timestampMs: 0, data }], snapshot: null }, true);
      latenciesMs.push(performance.now() - start);
      if (index - snapIndex[g]! >= COMPACTING.compactEvery) {
        snapIndex[g] = index;
        compactions.push(groups[g]!.compact({ meta: { index, term: 1, conf: { voters: ['a'], learners: [] } }, data: snapshotData }));
      }
    }
  };
  await Promise.all(Array.from({ length: COMPACTING.writers }, writer));
  const wallMs = performance.now() - t0;
  await Promise.all(compactions);
  const cpu = cpuUs() - cpu0;
  const after = db.stats;
  for (const s of groups) await s.close();
  const lat = summarizeLatencies(latenciesMs);
  return {
    case: COMPACTING.name, saves: latenciesMs.length, savesPerSec: round(latenciesMs.length / (wallMs / 1000), 0), compactions: compactions.length,
    writes: after.writes - before.writes, syncs: after.syncs - before.syncs,
    p50Ms: round(lat.p50Ms, 3), p99Ms: round(lat.p99Ms, 3), maxMs: round(latenciesMs.reduce((m, x) => Math.max(m, x), 0), 3),
    cpuUsPerSave: round(cpu / latenciesMs.length, 1),
  };
}

export async function runBench(args: BenchArgs): Promise<BenchReport> {
  const writesMax = intFlag(args.flags.get('writes'), 'writes', 10, 100_000, 2000);
  const secondsMax = args.seconds ?? 10;
  const parent = args.flags.get('dir') ?? tmpdir();
  if (!(statSync(parent, { throwIfNoEntry: false })?.isDirectory() ?? false)) throw new Error(`--dir ${parent} is not a directory`);
  const dir = mkdtempSync(join(parent, 'ringfence-bench-disk-'));
  args.log(`disk: the shared Raft log in ${dir}; up to ${writesMax} batches (${Math.ceil(writesMax / 4)} with 100 groups) or ${secondsMax} s per case`);
  const db = await SharedLogDb.open(dir);
  try {
    const rows: DiskRow[] = [];
    for (const [i, c] of CASES.entries()) {
      const row = await runCase(db, c, i, c.groups > 1 ? Math.ceil(writesMax / 4) : writesMax, secondsMax);
      rows.push(row);
      args.log(`disk: ${c.name.padEnd(30)} ${row.batches} batches in ${row.writes} writes, ${row.syncs} fsyncs; p50 ${row.p50Ms} ms, p99 ${row.p99Ms} ms; CPU ${row.cpuUsPerBatch} µs per batch, ${row.cpuUsPerEntry} µs per entry`);
    }
    const compacting = await runCompacting(db, writesMax * 20, secondsMax);
    args.log(`disk: ${compacting.case}: ${compacting.saves} saves (${compacting.savesPerSec}/s), ${compacting.compactions} compactions, ${compacting.writes} writes, ${compacting.syncs} fsyncs; a save's p50 ${compacting.p50Ms} ms, p99 ${compacting.p99Ms} ms, max ${compacting.maxMs} ms; CPU ${compacting.cpuUsPerSave} µs per save`);
    const row = (c: DiskCase): DiskRow => rows[CASES.indexOf(c)]!;
    const fsyncCpuUs = round(row(SYNCED_ALONE).cpuUsPerBatch - row(UNSYNCED_ALONE).cpuUsPerBatch, 1);
    args.log(`disk: one fsync cost the process ${fsyncCpuUs} µs of CPU beyond the write itself; 100 groups' saves in one batch cost ${row(SHARED_BATCH).cpuUsPerEntry} µs each against ${row(SYNCED_ALONE).cpuUsPerEntry} µs for a group's save alone`);
    return { bench: 'disk', dir: parent, entryBytes: ENTRY_DATA_BYTES, fsyncCpuUs, results: rows, compacting };
  } finally {
    await db.close();
    rmSync(dir, { recursive: true, force: true });
  }
}
