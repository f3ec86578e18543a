// The service definitions a shard owns: one per service number that hashes to this shard
// (shardOf(number), the shard holding the service's queue), so a definition and the queue
// it limits change in the same log. Replicated state, changed only by apply(): every SIP
// node follows the change feed and routes each call by the definition in force, without a
// restart. Pure: no clock, no I/O.

import { canonicalJson } from './canonical-json.js';
import { shardFailure } from './errors.js';
import * as limits from './limits.js';
import type { ServiceDefinition } from '../common/config.js';
import type { Command, ServiceChangeRecord, ShardResult } from './types.js';

export type ServiceOutcome = Readonly<{ result: ShardResult; records: readonly ServiceChangeRecord[] }>;

export class ServiceTable {
  #byNumber = new Map<string, ServiceDefinition>();

  constructor(private readonly servicesMax: number = limits.servicesPerShardMax) {}

  get size(): number {
    return this.#byNumber.size;
  }

  get(number: string): ServiceDefinition | undefined {
    return this.#byNumber.get(number);
  }

  put(c: Extract<Command, { type: 'putService' }>, index: number): ServiceOutcome {
    const { definition } = c;
    const existing = this.#byNumber.get(definition.number);
    if (existing !== undefined && (c.ifAbsent || canonicalJson(existing) === canonicalJson(definition))) {
      return { result: { ok: true, type: 'service', definition: existing, changed: false }, records: [] };
    }
    if (existing === undefined && this.#byNumber.size >= this.servicesMax) {
      return { result: shardFailure('SHARD_ERR_LIMIT', `shard already holds ${this.servicesMax} services`), records: [] };
    }
    this.#byNumber.set(definition.number, definition);
    return { result: { ok: true, type: 'service', definition, changed: true }, records: [{ index, kind: 'service', number: definition.number, definition }] };
  }

  delete(number: string, index: number): ServiceOutcome {
    if (!this.#byNumber.delete(number)) return { result: { ok: true, type: 'serviceDeleted', number, removed: false }, records: [] };
    return { result: { ok: true, type: 'serviceDeleted', number, removed: true }, records: [{ index, kind: 'service', number, definition: null }] };
  }

  /** Every definition, sorted by number (snapshot and reads). */
  list(): ServiceDefinition[] {
    return [...this.#byNumber.keys()].sort().map((n) => this.#byNumber.get(n)!);
  }

  /** Rebuilds from list() of any replica. Throws on a broken invariant (a bug). */
  static fromList(definitions: readonly ServiceDefinition[], servicesMax?: number): ServiceTable {
    const table = new ServiceTable(servicesMax);
    for (const d of definitions) {
      if (typeof d.number !== 'string' || table.#byNumber.has(d.number)) throw new Error('snapshot services must have distinct numbers');
      table.#byNumber.set(d.number, d);
    }
    return table;
  }
}
