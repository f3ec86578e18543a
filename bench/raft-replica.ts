// One Raft replica as a real OS process, for `bench raft`: RaftGroup + LevelRaftStorage
// (fsync on) + TcpRaftTransport + a tiny state machine, and a client RPC over TCP
// (bench/raft-rpc.ts in common/framing.ts frames): request {id, payload} → response
// {id, ok, index} once the entry is committed and applied, or {id, error code, leaderHint}.
//
//   node --import tsx bench/raft-replica.ts --id n1 --dir D --raft-port P --client-port Q \
//        --peers n1=127.0.0.1:P1,n2=127.0.0.1:P2,n3=127.0.0.1:P3 [--secret S] [--tick-ms 10]
//        [--heartbeat-ms H --election-ms E] [--snapshot-every N]   (default: the group's defaults)
//
// stdout carries JSON lines: {"event":"ready","id","pid","raftPort","clientPort"} once
// serving, then {"event":"role","role","leader"} on every role change and
// {"event":"stall","gapMs","appliedIndex"} when applying paused ≥ 200 ms under load. It exits
// when stdin closes (the bench died) or on SIGTERM/SIGINT, closing the group first so a
// --cpu-prof profile gets written.

import { createServer, type Server, type Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import { encodeFrames, FrameDecoder } from '../common/framing.js';
import { createLogger } from '../common/logger.js';
import { RaftGroupError } from '../raft/errors.js';
import { RaftGroup, type StateMachine } from '../raft/group/group.js';
import { LevelRaftStorage } from '../raft/storage/level-storage.js';
import { TcpRaftTransport } from '../raft/transport/tcp-transport.js';
import type { Entry, NodeId } from '../raft/types.js';
import { decodeRequest, encodeResponse, RPC_FRAME_BYTES_MAX, type ProposeResponse } from './raft-rpc.js';

export const BENCH_GROUP_ID = 'bench';
/** A gap this long between two applied batches while proposals wait is reported as a
 * {"event":"stall"} line (the bench counts them; they explain latency spikes). */
const STALL_REPORT_MS = 200;
/** Proposals one client connection may have outstanding before we stop reading it. */
const CONNECTION_PENDING_MAX = 4096;

type ReplicaArgs = {
  id: NodeId;
  dir: string;
  raftPort: number;
  clientPort: number;
  peers: Record<NodeId, { host: string; port: number }>;
  secret: string;
  tickMs: number;
  heartbeatMs: number | null;
  electionMs: number | null;
  snapshotEveryEntries: number | null;
};

function parseArgs(argv: readonly string[]): ReplicaArgs {
  const get = (name: string, fallback?: string): string => {
    const i = argv.indexOf(`--${name}`);
    const v = i >= 0 ? argv[i + 1] : fallback;
    if (v === undefined) throw new Error(`missing --${name}`);
    return v;
  };
  const peers: ReplicaArgs['peers'] = {};
  for (const item of get('peers').split(',')) {
    const [id, addr] = item.split('=');
    const [host, port] = (addr ?? '').split(':');
    if (!id || !host || !port) throw new Error(`bad --peers item: ${item}`);
    peers[id] = { host, port: Number(port) };
  }
  return {
    id: get('id'),
    dir: get('dir'),
    raftPort: Number(get('raft-port')),
    clientPort: Number(get('client-port', '0')),
    peers,
    secret: get('secret', 'ringfence-bench'),
    tickMs: Number(get('tick-ms', '10')),
    heartbeatMs: argv.includes('--heartbeat-ms') ? Number(get('heartbeat-ms')) : null,
    electionMs: argv.includes('--election-ms') ? Number(get('election-ms')) : null,
    snapshotEveryEntries: argv.includes('--snapshot-every') ? Number(get('snapshot-every')) : null,
  };
}

/** The smallest state machine that still does per-entry work: a count and an FNV-1a hash
 * over every applied byte, so all replicas can be compared after a run. */
export class ChecksumStateMachine implements StateMachine {
  private count = 0;
  private hash = 0x811c9dc5;

  apply(entry: Entry): unknown {
    let h = this.hash;
    const d = entry.data;
    for (let i = 0; i < d.length; i++) h = Math.imul(h ^ d[i]!, 0x01000193);
    this.hash = h >>> 0;
    return ++this.count;
  }

  snapshot(): Uint8Array {
    const out = Buffer.allocUnsafe(12);
    out.writeDoubleBE(this.count, 0);
    out.writeUInt32BE(this.hash, 8);
    return out;
  }

  restore(data: Uint8Array): void {
    const b = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
    this.count = b.readDoubleBE(0);
    this.hash = b.readUInt32BE(8);
  }
}

/** Proposals accepted from clients and not yet answered, across connections, and when
 * that count last rose from zero (so idle time between bench levels is no "stall"). */
type Load = { inFlight: number; busySinceMs: number };

function startedOne(load: Load): void {
  if (load.inFlight++ === 0) load.busySinceMs = performance.now();
}

function serveClients(group: RaftGroup, port: number, load: Load): Promise<Server> {
  const server = createServer({ noDelay: true }, (socket) => serveConnection(group, socket, load));
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve(server));
  });
}

/** Proposals from one connection; responses are batched into one write per event-loop turn. */
function serveConnection(group: RaftGroup, socket: Socket, load: Load): void {
  const decoder = new FrameDecoder(RPC_FRAME_BYTES_MAX);
  let outbox: Buffer[] = [];
  let pending = 0;
  const flush = (): void => {
    const batch = outbox;
    outbox = [];
    if (batch.length > 0 && !socket.destroyed) socket.write(encodeFrames(batch));
  };
  const respond = (res: ProposeResponse): void => {
    if (outbox.length === 0) setImmediate(flush);
    outbox.push(encodeResponse(res));
    pending--;
    load.inFlight--;
    if (socket.isPaused() && pending < CONNECTION_PENDING_MAX / 2) socket.resume();
  };
  socket.on('data', (chunk) => {
    let frames: Buffer[];
    try {
      frames = decoder.push(chunk);
    } catch {
      socket.destroy();
      return;
    }
    for (const frame of frames) {
      let id = 0;
      try {
        const req = decodeRequest(frame);
        id = req.id;
        pending++;
        startedOne(load);
        group.propose(req.payload).then(
          ({ index }) => respond({ id, ok: true, index }),
          (err: unknown) =>
            respond(
              err instanceof RaftGroupError
                ? { id, ok: false, code: err.code, leaderHint: err.leaderHint }
                : { id, ok: false, code: 'RAFT_ERR_FAILED', leaderHint: null },
            ),
        );
      } catch {
        pending++;
        startedOne(load);
        respond({ id, ok: false, code: 'RPC_ERR_BAD_REQUEST', leaderHint: null });
      }
    }
    if (pending >= CONNECTION_PENDING_MAX) socket.pause();
  });
  socket.on('error', () => socket.destroy());
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  // Warnings and errors only, on stderr (the parent keeps a tail for its error messages).
  const logger = createLogger({ node: args.id }, 'warn');
  const storage = await LevelRaftStorage.open(args.dir, { groupId: BENCH_GROUP_ID });
  const others = Object.fromEntries(Object.entries(args.peers).filter(([id]) => id !== args.id));
  const transport = await TcpRaftTransport.listen({
    id: args.id,
    host: '127.0.0.1',
    port: args.raftPort,
    secret: args.secret,
    peers: others,
    logger,
  });
  const group = await RaftGroup.open({
    groupId: BENCH_GROUP_ID,
    id: args.id,
    initialConf: { voters: Object.keys(args.peers).sort(), learners: [] },
    storage,
    transport,
    stateMachine: new ChecksumStateMachine(),
    tickMs: args.tickMs,
    raft: {
      ...(args.heartbeatMs !== null ? { heartbeatTicks: Math.max(1, Math.round(args.heartbeatMs / args.tickMs)) } : {}),
      ...(args.electionMs !== null ? { electionTimeoutTicks: Math.max(2, Math.round(args.electionMs / args.tickMs)) } : {}),
    },
    ...(args.snapshotEveryEntries !== null ? { snapshotEveryEntries: args.snapshotEveryEntries } : {}),
    logger,
  });
  const print = (o: object): void => void process.stdout.write(JSON.stringify(o) + '\n');
  group.on('role', (s) => print({ event: 'role', id: args.id, role: s.role, leader: s.leader }));
  const load: Load = { inFlight: 0, busySinceMs: 0 };
  let lastAppliedAt = performance.now();
  group.on('applied', (index) => {
    const now = performance.now();
    const gapMs = now - Math.max(lastAppliedAt, load.busySinceMs);
    lastAppliedAt = now;
    if (gapMs >= STALL_REPORT_MS && load.inFlight > 0) print({ event: 'stall', id: args.id, gapMs: Math.round(gapMs), appliedIndex: index });
  });
  const server = await serveClients(group, args.clientPort, load);
  const addr = server.address();
  const clientPort = typeof addr === 'object' && addr ? addr.port : args.clientPort;

  let closing = false;
  const shutdown = async (code: number): Promise<void> => {
    if (closing) return;
    closing = true;
    server.close();
    const hardStop = setTimeout(() => process.exit(code), 3_000);
    hardStop.unref();
    try {
      await group.close(); // closes the storage too
      await transport.close();
    } finally {
      process.exit(code);
    }
  };
  process.on('SIGTERM', () => void shutdown(0));
  process.on('SIGINT', () => void shutdown(0));
  process.stdin.on('end', () => void shutdown(0));
  process.stdin.on('close', () => void shutdown(0));
  process.stdin.resume();
  print({ event: 'ready', id: args.id, pid: process.pid, raftPort: transport.port, clientPort });
}

main().catch((err: unknown) => {
  process.stderr.write(`raft-replica failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
