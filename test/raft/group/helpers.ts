// Shared pieces of the RaftGroup tests: a small key-value state machine (entries are
// "key=value"; apply returns the number of keys after applying), clusters of groups over
// the in-memory hub, and a poller.

import type { RaftGroupOptions, StateMachine } from '../../../raft/group/group.js';
import { RaftGroup } from '../../../raft/group/group.js';
import { MemoryRaftStorage } from '../../../raft/storage/memory-storage.js';
import type { RaftStorage, StorageBatch } from '../../../raft/storage/storage.js';
import { LoopRaftHub } from '../../../raft/transport/loop-transport.js';
import type { Entry, Snapshot } from '../../../raft/types.js';

const enc = new TextEncoder();
const dec = new TextDecoder();

export class KvStateMachine implements StateMachine {
  map = new Map<string, string>();
  appliedEntries = 0;
  restores = 0;

  apply(entry: Entry): unknown {
    const [k, v] = dec.decode(entry.data).split('=');
    this.map.set(k!, v!);
    this.appliedEntries++;
    return this.map.size;
  }

  snapshot(): Uint8Array {
    return enc.encode(JSON.stringify([...this.map]));
  }

  restore(data: Uint8Array): void {
    this.map = new Map(JSON.parse(dec.decode(data)) as [string, string][]);
    this.restores++;
  }
}

export const put = (k: string, v: string): Uint8Array => enc.encode(`${k}=${v}`);

/** A real MemoryRaftStorage that also records each save() batch, to observe group commit. */
export class RecordingStorage implements RaftStorage {
  /** hardState: whether the save wrote one. */
  readonly saves: { entries: number; sync: boolean; hardState: boolean }[] = [];
  compactions = 0;
  constructor(readonly inner: RaftStorage = new MemoryRaftStorage()) {}
  load() {
    return this.inner.load();
  }
  save(batch: StorageBatch, sync: boolean) {
    this.saves.push({ entries: batch.entries.length, sync, hardState: batch.hardState !== null });
    return this.inner.save(batch, sync);
  }
  compact(s: Snapshot) {
    this.compactions++;
    return this.inner.compact(s);
  }
  close() {
    return this.inner.close();
  }
}

export async function waitFor(cond: () => boolean, what: string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

export type Member = { id: string; group: RaftGroup; sm: KvStateMachine; storage: RecordingStorage };

/** A cluster of RaftGroups over one LoopRaftHub; `open` (re)starts a member from its storage. */
export class LoopCluster {
  readonly hub = new LoopRaftHub();
  readonly members = new Map<string, Member>();
  private readonly storages = new Map<string, RecordingStorage>();

  constructor(
    readonly voters: string[],
    readonly extra: Partial<RaftGroupOptions> = {},
  ) {}

  /** Makes `id` use `storage` from its next open() on. */
  setStorage(id: string, storage: RecordingStorage): void {
    this.storages.set(id, storage);
  }

  async open(id: string): Promise<Member> {
    let storage = this.storages.get(id);
    if (!storage) this.storages.set(id, (storage = new RecordingStorage()));
    const sm = new KvStateMachine();
    const transport = this.hub.transport(id);
    const group = await RaftGroup.open({
      groupId: 'g1',
      id,
      initialConf: { voters: this.voters, learners: [] },
      storage,
      transport,
      stateMachine: sm,
      ...this.extra,
    });
    const m = { id, group, sm, storage };
    this.members.set(id, m);
    (m as Member & { transport: typeof transport }).transport = transport;
    return m;
  }

  async close(id: string): Promise<void> {
    const m = this.members.get(id) as (Member & { transport: { close(): Promise<void> } }) | undefined;
    if (!m) return;
    this.members.delete(id);
    await m.group.close();
    await m.transport.close();
  }

  async closeAll(): Promise<void> {
    for (const id of [...this.members.keys()]) await this.close(id);
  }

  leaders(): Member[] {
    return [...this.members.values()].filter((m) => m.group.isLeader());
  }

  async leader(): Promise<Member> {
    await waitFor(() => this.leaders().length === 1 && [...this.members.values()].every((m) => m.group.leader() === this.leaders()[0]!.id), 'one agreed leader');
    return this.leaders()[0]!;
  }
}
