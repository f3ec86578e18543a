// Seeding the replicated service definitions from the cluster file: at start the node
// proposes `putService {definition, ifAbsent: true}` for each of its file's services, on
// the shard owning the number, retried with backoff until it is answered. ifAbsent makes
// the rule "written when absent": a definition changed (or a service added) over REST is
// kept across every node's restart, and GET /v1/services shows what is in force. A
// service deleted over REST comes back when a node whose file lists it starts; to retire
// it for good, take it out of the files too (README, Services).

import type { ServiceDefinition } from '../../common/config.js';
import type { Logger } from '../../common/logger.js';
import type { ShardClient } from '../../shards/client/shard-client.js';
import { backoffMs } from './clock.js';
import * as limits from './limits.js';

export type ServiceSeedOptions = Readonly<{
  shards: Pick<ShardClient, 'command'>;
  services: readonly ServiceDefinition[];
  log: Logger;
  sleep: (delayMs: number) => Promise<void>;
}>;

/** `done` resolves when every definition was answered (or the seed was stopped). */
export function seedServices(o: ServiceSeedOptions): { done: Promise<void>; stop: () => void } {
  let stopped = false;
  const seedOne = async (definition: ServiceDefinition): Promise<void> => {
    for (let i = 0; !stopped; i++) {
      try {
        const r = await o.shards.command(definition.number, { type: 'putService', definition, ifAbsent: true }, { deadlineMs: limits.shardCommandDeadlineMs });
        if (r.ok) {
          if (r.type === 'service' && !r.changed) o.log.debug('service already defined in the cluster; the file\'s definition is not applied', { service: definition.number });
          return;
        }
        // A definition the shard refuses (a full table) will not pass on a retry either.
        return o.log.warn('service seed refused', { service: definition.number, code: r.code, reason: r.reason });
      } catch (err) {
        if (i === 0) o.log.warn('service seed failed; retrying', { service: definition.number, error: (err as Error).message });
      }
      await o.sleep(backoffMs(i, limits.reconcileRetryBackoffMsMin, limits.reconcileRetryBackoffMsMax));
    }
  };
  const done = Promise.all(o.services.map(seedOne)).then(() => undefined);
  return { done, stop: () => { stopped = true; } };
}
