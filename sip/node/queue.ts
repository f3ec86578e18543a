// Calls waiting for an agent, per node. When an agent turns READY the longest-waiting
// call it can take (skill at the call's minimum level, not already tried by that call)
// goes first. A call that is woken but finds no agent after all goes back in at its
// original place (its enqueue time is kept). Pure: the B2BUA owns the timers.

import assert from 'node:assert';
import type { Agent } from '../../shards/types.js';
import { queueLengthMax } from './limits.js';

export type QueuedCall = Readonly<{
  key: string;
  skill: string;
  minLevel: number;
  enqueuedAtMs: number;
  /** DNs this call already tried; the agent must not be one of them. */
  tried: ReadonlySet<string>;
}>;

export class CallQueue {
  private readonly waiting: QueuedCall[] = [];

  constructor(private readonly lengthMax = queueLengthMax) {}

  get length(): number {
    return this.waiting.length;
  }

  /** False when the queue is full. Keeps the list ordered by enqueue time. */
  add(call: QueuedCall): boolean {
    if (this.waiting.some((c) => c.key === call.key)) assert.fail(`call ${call.key} queued twice`);
    if (this.waiting.length >= this.lengthMax) return false;
    let i = this.waiting.length;
    while (i > 0 && this.waiting[i - 1]!.enqueuedAtMs > call.enqueuedAtMs) i--;
    this.waiting.splice(i, 0, call);
    return true;
  }

  remove(key: string): boolean {
    const i = this.waiting.findIndex((c) => c.key === key);
    if (i < 0) return false;
    this.waiting.splice(i, 1);
    return true;
  }

  has(key: string): boolean {
    return this.waiting.some((c) => c.key === key);
  }

  /** Removes and returns the longest-waiting call this agent can take, if any. */
  takeFor(agent: Agent): QueuedCall | null {
    const i = this.waiting.findIndex((c) => {
      const level = Object.hasOwn(agent.skills, c.skill) ? agent.skills[c.skill]! : -1;
      return level >= 0 && level >= c.minLevel && !c.tried.has(agent.dn);
    });
    if (i < 0) return null;
    return this.waiting.splice(i, 1)[0]!;
  }

  list(): readonly QueuedCall[] {
    return this.waiting;
  }
}
