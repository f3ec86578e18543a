// Membership: a ConfChange is carried JSON-encoded in a `conf` entry and takes effect on
// every node as soon as the entry is in its log (single-server change). The configuration
// in force is therefore a pure function of the base configuration (snapshot or initial)
// and the conf entries in the log after it, which makes rollback on truncation trivial.
import assert from 'node:assert';
import type { ConfChange, ConfState, Entry, LogIndex, NodeId } from '../types.js';

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export function encodeConfChange(change: ConfChange): Uint8Array {
  return encoder.encode(JSON.stringify(change));
}

export function decodeConfChange(data: Uint8Array): ConfChange {
  const parsed = JSON.parse(decoder.decode(data)) as ConfChange;
  assert(
    parsed !== null && typeof parsed === 'object' && typeof parsed.node === 'string' &&
      (parsed.type === 'addLearner' || parsed.type === 'promote' || parsed.type === 'remove'),
    'malformed conf change entry',
  );
  return parsed;
}

export function applyConfChange(conf: ConfState, change: ConfChange): ConfState {
  const voters = conf.voters.filter((id) => id !== change.node);
  const learners = conf.learners.filter((id) => id !== change.node);
  const wasVoter = voters.length !== conf.voters.length;
  switch (change.type) {
    case 'addLearner':
      // Adding an existing member changes nothing (idempotent retries).
      if (wasVoter) return conf;
      return { voters, learners: [...learners, change.node] };
    case 'promote':
      if (wasVoter) return conf;
      return { voters: [...voters, change.node], learners };
    case 'remove':
      return { voters, learners };
  }
}

/** The configuration after applying every conf entry of `entries` to `base`, and the index
 * of the last such entry (`baseIndex` when there is none). */
export function confAfter(
  base: ConfState,
  baseIndex: LogIndex,
  entries: readonly Entry[],
  uptoIndex = Infinity,
): { conf: ConfState; index: LogIndex } {
  let conf = base;
  let index = baseIndex;
  for (const e of entries) {
    if (e.index > uptoIndex) break;
    if (e.kind !== 'conf') continue;
    conf = applyConfChange(conf, decodeConfChange(e.data));
    index = e.index;
  }
  return { conf, index };
}

export function isVoter(conf: ConfState, id: NodeId): boolean {
  return conf.voters.includes(id);
}

export function isMember(conf: ConfState, id: NodeId): boolean {
  return conf.voters.includes(id) || conf.learners.includes(id);
}

export function members(conf: ConfState): NodeId[] {
  return [...conf.voters, ...conf.learners];
}
