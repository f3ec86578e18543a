// The pure Raft core's entry points. Everything else in raft/core/ is internal.
import type { RaftBoot, RaftConfig, RaftCore } from './types.js';
import { Raft } from './core/raft.js';

export { defaultRaftConfig } from './core/config.js';
export { encodeConfChange, decodeConfChange } from './core/conf.js';

/** A Raft group member restarted from `boot` (what the driver loaded from storage). */
export function createRaftCore(config: RaftConfig, boot: RaftBoot): RaftCore {
  return new Raft(config, boot);
}
