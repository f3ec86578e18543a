// RaftConfig defaults and validation (a bad config is a programming error: assert).
import assert from 'node:assert';
import type { NodeId, RaftConfig } from '../types.js';
import {
  appendBytesMaxDefault,
  appendEntriesMaxDefault,
  electionTimeoutTicksDefault,
  heartbeatTicksDefault,
  inflightAppendsMaxDefault,
  snapshotChunkBytesDefault,
  uncommittedBytesMaxDefault,
} from '../limits.js';

export function defaultRaftConfig(id: NodeId, random: () => number, nowMs: () => number): RaftConfig {
  return {
    id,
    electionTimeoutTicks: electionTimeoutTicksDefault,
    heartbeatTicks: heartbeatTicksDefault,
    preVote: true,
    checkQuorum: true,
    appendEntriesMax: appendEntriesMaxDefault,
    appendBytesMax: appendBytesMaxDefault,
    inflightAppendsMax: inflightAppendsMaxDefault,
    uncommittedBytesMax: uncommittedBytesMaxDefault,
    snapshotChunkBytes: snapshotChunkBytesDefault,
    random,
    nowMs,
  };
}

function positiveInt(value: number, name: string): void {
  assert(Number.isInteger(value) && value > 0, `RaftConfig.${name} must be a positive integer, got ${value}`);
}

export function validateConfig(c: RaftConfig): void {
  assert(typeof c.id === 'string' && c.id.length > 0, 'RaftConfig.id must be a non-empty string');
  positiveInt(c.electionTimeoutTicks, 'electionTimeoutTicks');
  positiveInt(c.heartbeatTicks, 'heartbeatTicks');
  assert(c.heartbeatTicks < c.electionTimeoutTicks, 'heartbeatTicks must be below electionTimeoutTicks');
  positiveInt(c.appendEntriesMax, 'appendEntriesMax');
  positiveInt(c.appendBytesMax, 'appendBytesMax');
  positiveInt(c.inflightAppendsMax, 'inflightAppendsMax');
  positiveInt(c.uncommittedBytesMax, 'uncommittedBytesMax');
  positiveInt(c.snapshotChunkBytes, 'snapshotChunkBytes');
  assert(typeof c.random === 'function' && typeof c.nowMs === 'function', 'RaftConfig needs random and nowMs');
  // Deliberate bugs were once a config field; they now come only through the simulator's
  // hook (raft/sim/planted-bugs.ts), so a leftover field must fail loudly, not be ignored.
  assert(!('bugs' in c), 'RaftConfig has no bugs field: planted bugs come only from raft/sim/planted-bugs.ts');
}
