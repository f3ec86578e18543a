// The bench side of the replica client RPC (bench/raft-rpc.ts): a few TCP connections to
// the current leader, requests pipelined on them round-robin, responses matched by id.
// It follows NotLeader hints (switching all connections to the hinted replica) and, with
// no hint, tries the next replica. Writes issued in one event-loop turn go out as one
// socket write per connection.

import { connect, type Socket } from 'node:net';
import { encodeFrames, FrameDecoder } from '../common/framing.js';
import type { NodeId } from '../raft/types.js';
import { decodeResponse, encodeRequest, RPC_FRAME_BYTES_MAX, type ProposeResponse } from './raft-rpc.js';

export type ReplicaAddress = Readonly<{ host: string; port: number }>;

type Waiter = { resolve: (r: ProposeResponse) => void; reject: (e: Error) => void };

class Connection {
  private readonly socket: Socket;
  private readonly decoder = new FrameDecoder(RPC_FRAME_BYTES_MAX);
  private readonly waiters = new Map<number, Waiter>();
  private outbox: Buffer[] = [];
  private closedError: Error | null = null;
  readonly ready: Promise<void>;

  constructor(addr: ReplicaAddress) {
    this.socket = connect({ host: addr.host, port: addr.port, noDelay: true });
    this.ready = new Promise((resolve, reject) => {
      this.socket.once('connect', () => resolve());
      this.socket.once('error', reject);
    });
    this.ready.catch(() => undefined);
    this.socket.on('data', (chunk) => {
      let frames: Buffer[];
      try {
        frames = this.decoder.push(chunk);
      } catch (err) {
        this.fail(err as Error);
        return;
      }
      for (const f of frames) {
        const res = decodeResponse(f);
        const w = this.waiters.get(res.id);
        if (w) {
          this.waiters.delete(res.id);
          w.resolve(res);
        }
      }
    });
    this.socket.on('error', (err) => this.fail(err));
    this.socket.on('close', () => this.fail(new Error('connection closed')));
  }

  send(id: number, payload: Uint8Array): Promise<ProposeResponse> {
    if (this.closedError) return Promise.reject(this.closedError);
    if (this.outbox.length === 0) setImmediate(() => this.flush());
    this.outbox.push(encodeRequest({ id, payload }));
    return new Promise((resolve, reject) => this.waiters.set(id, { resolve, reject }));
  }

  private flush(): void {
    const batch = this.outbox;
    this.outbox = [];
    if (batch.length > 0 && !this.closedError) this.socket.write(encodeFrames(batch));
  }

  private fail(err: Error): void {
    if (this.closedError) return;
    this.closedError = err;
    for (const w of this.waiters.values()) w.reject(err);
    this.waiters.clear();
    this.socket.destroy();
  }

  close(): void {
    this.fail(new Error('client closed'));
  }
}

export class RaftBenchClient {
  private readonly addresses: ReadonlyMap<NodeId, ReplicaAddress>;
  private readonly connectionsPerTarget: number;
  private target: NodeId;
  private conns: Connection[] = [];
  private next = 0;
  private nextId = 1;

  constructor(addresses: Readonly<Record<NodeId, ReplicaAddress>>, connectionsPerTarget = 4) {
    this.addresses = new Map(Object.entries(addresses));
    this.connectionsPerTarget = connectionsPerTarget;
    this.target = [...this.addresses.keys()][0]!;
  }

  /** The replica requests currently go to. */
  get leader(): NodeId {
    return this.target;
  }

  /** Points all connections at `id` (closing the old ones; their pending calls reject). */
  async switchTo(id: NodeId): Promise<void> {
    const addr = this.addresses.get(id);
    if (!addr) throw new Error(`unknown replica ${id}`);
    for (const c of this.conns) c.close();
    this.target = id;
    this.conns = Array.from({ length: this.connectionsPerTarget }, () => new Connection(addr));
    await Promise.all(this.conns.map((c) => c.ready));
  }

  /** One proposal to the current target. Rejects on a connection failure; a Raft error
   * comes back as a response with ok: false. NotLeader responses switch the target. */
  async propose(payload: Uint8Array): Promise<ProposeResponse> {
    if (this.conns.length === 0) await this.switchTo(this.target);
    const conn = this.conns[this.next++ % this.conns.length]!;
    const id = this.nextId;
    this.nextId = (this.nextId + 1) >>> 0 || 1;
    const res = await conn.send(id, payload);
    if (!res.ok && res.code === 'RAFT_ERR_NOT_LEADER') this.redirect(res.leaderHint);
    return res;
  }

  private redirecting: Promise<void> | null = null;

  /** Follows a hint (or tries the next replica without one); concurrent callers share one switch. */
  private redirect(hint: NodeId | null): void {
    if (this.redirecting) return;
    const ids = [...this.addresses.keys()];
    const to = hint && hint !== this.target ? hint : hint === null ? ids[(ids.indexOf(this.target) + 1) % ids.length]! : null;
    if (to === null) return;
    this.redirecting = this.switchTo(to)
      .catch(() => undefined)
      .finally(() => {
        this.redirecting = null;
      });
  }

  /** Resolves once a proposal commits (finding the leader on the way), or rejects after
   * `timeoutMs`. */
  async waitForLeader(payload: Uint8Array, timeoutMs: number): Promise<NodeId> {
    const deadline = Date.now() + timeoutMs;
    let last = '';
    while (Date.now() < deadline) {
      await this.redirecting;
      try {
        const res = await this.propose(payload);
        if (res.ok) return this.target;
        last = res.code;
      } catch (err) {
        last = (err as Error).message;
        this.redirect(null);
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`no Raft leader accepted a proposal within ${timeoutMs} ms (last: ${last})`);
  }

  close(): void {
    for (const c of this.conns) c.close();
    this.conns = [];
  }
}
