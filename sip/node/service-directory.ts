// The service definitions in force, as this SIP node knows them: the replicated ones
// (putService/deleteService on the shard owning each number, followed on the change feed
// by agent-feed.ts), so a change made over REST on any node reaches every call set up
// after it, without a restart.
//
// The cluster file's services seed the replicated ones (node.ts proposes `putService
// ifAbsent` for each at start: written when absent, so REST edits survive restarts). Until
// this node has seen a number's replicated definition, the file's stands in for it (the
// seed may still be on its way through the feed); once it has seen the number deleted, the
// file's no longer does. Records of one shard come in index order, but a re-read may cross
// pages, so each number keeps the index it was last changed at. Pure: no sockets, timers.

import { serviceDefinition, type ServiceConfig, type ServiceDefinition } from '../../common/config.js';

type Held = { definition: ServiceDefinition | null; index: number; shardId: string };

export class ServiceDirectory {
  readonly #fromFile: ReadonlyMap<string, ServiceDefinition>;
  /** number → the replicated definition (null: seen deleted). */
  readonly #held = new Map<string, Held>();

  constructor(file: readonly ServiceConfig[]) {
    this.#fromFile = new Map(file.map((s) => [s.number, serviceDefinition(s)]));
  }

  /** The definition in force for a dialled number (undefined: no such service). */
  get(number: string): ServiceDefinition | undefined {
    const held = this.#held.get(number);
    if (held !== undefined) return held.definition ?? undefined;
    return this.#fromFile.get(number);
  }

  /** Every service in force, sorted by number (stats, metrics). */
  list(): ServiceDefinition[] {
    const numbers = new Set([...this.#fromFile.keys(), ...this.#held.keys()]);
    return [...numbers].sort().map((n) => this.get(n)).filter((d): d is ServiceDefinition => d !== undefined);
  }

  /** The cluster file's services (what node.ts seeds). */
  fileDefinitions(): ServiceDefinition[] {
    return [...this.#fromFile.values()];
  }

  /** Applies a feed record (`definition` null: deleted); older records than held are ignored. */
  apply(shardId: string, number: string, definition: ServiceDefinition | null, index: number): boolean {
    const held = this.#held.get(number);
    if (held !== undefined && held.index >= index) return false;
    this.#held.set(number, { definition, index, shardId });
    return true;
  }

  /** Replaces what is held from `shardId` with a full read made at `appliedIndex`: a number
   * held from that shard and absent from the read was deleted. */
  resync(shardId: string, definitions: readonly ServiceDefinition[], appliedIndex: number): void {
    const read = new Set(definitions.map((d) => d.number));
    for (const [number, held] of this.#held) {
      if (held.shardId === shardId && held.index <= appliedIndex && !read.has(number)) this.#held.set(number, { definition: null, index: appliedIndex, shardId });
    }
    for (const d of definitions) this.apply(shardId, d.number, d, appliedIndex);
  }

  /** Priority between services (0 for an unknown number). */
  priorityOf(number: string): number {
    return this.get(number)?.priority ?? 0;
  }

  /** The ring timeout of a call of `number`: the service's, else the node's. */
  ringTimeoutMsOf(number: string, nodeDefaultMs: number): number {
    return this.get(number)?.ringTimeoutMs ?? nodeDefaultMs;
  }

  /** The longest wait in queue of a call of `number`: the service's, else the node's. */
  maxWaitMsOf(number: string, nodeDefaultMs: number): number {
    return this.get(number)?.maxWaitMs ?? nodeDefaultMs;
  }
}
