// Test helper: feeds commands to a ShardStateMachine as Raft would, as committed 'normal'
// entries with increasing indexes and leader timestamps, through the real encoder.

import type { Entry } from '../../raft/types.js';
import { encodeProposal } from '../../shards/commands.js';
import { ShardStateMachine, type ShardStateMachineOptions } from '../../shards/state-machine.js';
import type { Agent, Command, SessionRef, ShardResult } from '../../shards/types.js';

export class ShardHarness {
  readonly sm: ShardStateMachine;
  index = 0;
  nowMs = 1_000_000;

  constructor(options: ShardStateMachineOptions = {}, sm?: ShardStateMachine) {
    this.sm = sm ?? new ShardStateMachine(options);
  }

  entry(data: Uint8Array, timestampMs = this.nowMs): Entry {
    this.index += 1;
    return { term: 1, index: this.index, kind: 'normal', timestampMs, data };
  }

  /** Applies one proposal at the harness's current time (or `atMs`). */
  propose(command: Command, session: SessionRef | null = null, atMs?: number): ShardResult {
    const result = this.sm.apply(this.entry(encodeProposal({ session, command }), atMs ?? this.nowMs));
    if (result === undefined) throw new Error('normal entry without a result');
    return result;
  }

  advance(ms: number): void {
    this.nowMs += ms;
  }

  openClient(): ShardClient {
    const result = this.propose({ type: 'openSession' });
    if (!result.ok || result.type !== 'session') throw new Error(`openSession failed: ${JSON.stringify(result)}`);
    return new ShardClient(this, result.clientId);
  }
}

/** A client numbering its requests and acknowledging every answer it received:
 * `acked` is the highest seq with every answer up to it received. */
export class ShardClient {
  seq = 0;
  acked = 0;
  readonly #received = new Set<number>();
  constructor(
    readonly harness: ShardHarness,
    readonly clientId: string,
  ) {}

  /** Sends the next request; with answerLost the client never sees the answer (a test
   * still gets it, to compare with the retry's). */
  send(command: Command, options: { answerLost?: boolean } = {}): ShardResult {
    this.seq += 1;
    const result = this.harness.propose(command, { clientId: this.clientId, requestSeq: this.seq, ackedSeq: this.acked });
    if (!options.answerLost) this.#receive(this.seq);
    return result;
  }

  /** Re-sends request `seq` as a client does after losing its answer. */
  retry(command: Command, seq: number): ShardResult {
    const result = this.harness.propose(command, { clientId: this.clientId, requestSeq: seq, ackedSeq: this.acked });
    this.#receive(seq);
    return result;
  }

  #receive(seq: number): void {
    this.#received.add(seq);
    while (this.#received.has(this.acked + 1)) this.#received.delete(++this.acked);
  }
}

export function provisionCommand(dn: string, extra: Partial<Extract<Command, { type: 'provision' }>> = {}): Command {
  return { type: 'provision', dn, name: `Agent ${dn}`, skills: { sales: 50 }, wrapUpMs: 0, maxNoAnswer: 0, credentials: null, ...extra };
}

/** Provisions, logs in and readies an agent. */
export function readyAgent(client: ShardClient, dn: string, extra: Partial<Extract<Command, { type: 'provision' }>> = {}): Agent {
  for (const command of [provisionCommand(dn, extra), { type: 'login', dn }, { type: 'ready', dn }] as Command[]) {
    const result = client.send(command);
    if (!result.ok) throw new Error(`${command.type} ${dn}: ${result.code} ${result.reason}`);
  }
  return client.harness.sm.getAgent(dn)!;
}

export function agentOf(result: ShardResult): Agent {
  if (!result.ok || (result.type !== 'agent' && result.type !== 'reserved')) throw new Error(`no agent in ${JSON.stringify(result)}`);
  return result.agent;
}
