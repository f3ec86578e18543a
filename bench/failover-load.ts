// The Ringfence side of the failover bench's steady load: agents provisioned READY on one
// shard, and closed-loop workers that reserve a random agent and release it again, back
// to back, the way ANCHORS.md drives etcd. Every definite answer to a reserve or release
// (granted, denied, released) is a committed write and is reported to `onWriteOk` with the
// replica that answered, so the failover rounds can time "kill → first commit by a
// survivor". An outcome the client cannot know (deadline passed, maybe applied) is settled
// by a linearizable read of the agent. Double grants are judged from the client's view.

import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { ShardClientError, type ShardClient } from '../shards/client/shard-client.js';
import type { Agent, Command, ShardResult } from '../shards/types.js';
import { runClosedLoop, type OpOutcome } from './closed-loop.js';
import type { ReservationCounts } from './etcd-workloads.js';

/** Reservations outlive any failover here; a leaked one (unknown outcome that committed
 * after its settling read) expires on its own and only makes its agent deny for a while. */
const RESERVATION_TTL_MS = 30_000;
/** Releases retried at most this often before the worker gives the agent up. */
const RELEASE_ATTEMPTS_MAX = 1000;
/** Well inside the shard's window of unacknowledged results per session (one straggler
 * holds the window's low end while the others move on). */
const PROVISION_CONCURRENCY = 8;
const PROVISION_ATTEMPTS_MAX = 20;
const PROVISION_DEADLINE_MS = 20_000;

/** Failures of the shard's session layer: the command was committed but did not run
 * (ShardClient keeps one session per shard, and one straggling call holds the low end of
 * its window of unacknowledged results while the others move on). */
const SESSION_FAILURES: ReadonlySet<string> = new Set(['SHARD_ERR_TOO_MANY_PENDING', 'SHARD_ERR_SESSION_EXPIRED']);

export function didNotRun(r: ShardResult): boolean {
  return !r.ok && SESSION_FAILURES.has(r.code);
}

export function benchDn(i: number): string {
  return String(100000 + i);
}

/** Provisions agents benchDn(0..count-1) with skill `support`, logs them in and makes them
 * READY. No wrap-up time, so a release returns the agent to READY at once. */
export async function provisionReadyAgents(client: ShardClient, count: number): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: PROVISION_CONCURRENCY }, async () => {
    while (next < count) {
      const dn = benchDn(next++);
      const commands: Command[] = [
        { type: 'provision', dn, name: `failover ${dn}`, skills: { support: 50 }, wrapUpMs: 0, maxNoAnswer: 0, credentials: null },
        { type: 'login', dn },
        { type: 'ready', dn },
      ];
      for (const command of commands) {
        const r = await commandRetryingDefiniteFailures(client, dn, command);
        if (!r.ok) throw new Error(`provisioning ${dn}: ${r.code} ${r.reason}`);
      }
    }
  }));
}

/** Retries a command that certainly did not apply (e.g. the session window was full). */
async function commandRetryingDefiniteFailures(client: ShardClient, dn: string, command: Command): Promise<ShardResult> {
  for (let attempt = 1; ; attempt++) {
    try {
      const r = await client.command(dn, command, { deadlineMs: PROVISION_DEADLINE_MS });
      if (!didNotRun(r) || attempt >= PROVISION_ATTEMPTS_MAX) return r;
    } catch (err) {
      if (!(err instanceof ShardClientError) || err.maybeApplied || attempt >= PROVISION_ATTEMPTS_MAX) throw err;
    }
    await sleep(50);
  }
}

export type ReservationLoadOptions = Readonly<{
  client: ShardClient;
  shardId: string;
  agents: number;
  concurrency: number;
  /** Upper bound of the run; `shouldStop` normally ends it first. */
  durationMs: number;
  /** Overall deadline of one call, the client's own retries included. */
  callDeadlineMs: number;
  /** Pause after a call that failed before trying again (10 ms in ANCHORS.md). */
  retryPauseMs: number;
  /** Every committed write's acknowledgement: when it arrived and which replica answered. */
  onWriteOk: (atMs: number, replica: string | null) => void;
  shouldStop: () => boolean;
}>;

export type ReservationLoadResult = ReservationCounts & Readonly<{
  /** Calls that failed without effect, by error code (e.g. a full session window). */
  definiteErrors: Readonly<Record<string, number>>;
}>;

export async function runReservationLoad(opts: ReservationLoadOptions): Promise<ReservationLoadResult> {
  const { client, shardId } = opts;
  // dn → reservation id of the grant a worker holds. A grant is certainly held from its
  // acknowledgement until its release is sent, so a second grant of the same agent inside
  // that window is a double grant (no false positives).
  const holder = new Map<string, string>();
  let granted = 0;
  let denied = 0;
  let unknown = 0;
  let doubleGrants = 0;
  let nextId = 0;
  const definiteErrors: Record<string, number> = {};
  const countDefinite = (code: string): void => {
    definiteErrors[code] = (definiteErrors[code] ?? 0) + 1;
  };
  const ack = (): void => opts.onWriteOk(performance.now(), client.cachedLeader(shardId));
  const noteGrant = (dn: string, id: string): void => {
    granted++;
    if (holder.has(dn)) doubleGrants++;
    holder.set(dn, id);
  };
  const release = async (dn: string, id: string): Promise<void> => {
    if (holder.get(dn) === id) holder.delete(dn);
    for (let attempt = 0; attempt < RELEASE_ATTEMPTS_MAX && !opts.shouldStop(); attempt++) {
      try {
        // A retried release whose first try committed is denied as stale: still an answer.
        const r = await client.command(dn, { type: 'release', dn, reservationId: id, outcome: 'completed' }, { deadlineMs: opts.callDeadlineMs });
        if (!didNotRun(r)) {
          ack();
          return;
        }
        countDefinite(r.ok ? 'ok' : r.code);
      } catch (err) {
        if (err instanceof ShardClientError && !err.maybeApplied) countDefinite(err.code);
      }
      await sleep(opts.retryPauseMs);
    }
  };
  /** Granted, not granted, or null when no read answered before the load stopped. */
  const settle = async (dn: string, id: string): Promise<boolean | null> => {
    while (!opts.shouldStop()) {
      try {
        const agent = (await client.read(shardId, { type: 'agent', dn }, 'linearizable', { deadlineMs: opts.callDeadlineMs })) as Agent;
        const s = agent.status;
        return (s.state === 'RESERVED' || s.state === 'BUSY') && s.reservation.reservationId === id;
      } catch {
        await sleep(opts.retryPauseMs);
      }
    }
    return null;
  };

  const res = await runClosedLoop({
    concurrency: opts.concurrency,
    durationMs: opts.durationMs,
    shouldStop: opts.shouldStop,
    op: async (w): Promise<OpOutcome> => {
      const dn = benchDn(Math.floor(Math.random() * opts.agents));
      const id = `f${process.pid}-${w}-${nextId++}`;
      try {
        const r = await client.command(dn, { type: 'reserve', dn, reservationId: id, callId: id, owner: 'failover-bench', ttlMs: RESERVATION_TTL_MS }, { deadlineMs: opts.callDeadlineMs });
        if (didNotRun(r)) {
          countDefinite(r.ok ? 'ok' : r.code);
          await sleep(opts.retryPauseMs);
          return 'error';
        }
        ack();
        if (!r.ok) {
          denied++;
          return 'fail';
        }
        noteGrant(dn, id);
        await release(dn, id);
        return 'ok';
      } catch (err) {
        if (!(err instanceof ShardClientError) || !err.maybeApplied) {
          countDefinite(err instanceof ShardClientError ? err.code : 'exception');
          await sleep(opts.retryPauseMs);
          return 'error';
        }
      }
      unknown++;
      await sleep(opts.retryPauseMs);
      if ((await settle(dn, id)) === true) {
        noteGrant(dn, id);
        await release(dn, id);
      }
      return 'error';
    },
  });
  return { granted, denied, unknown, doubleGrants, definiteErrors, elapsedMs: res.elapsedMs };
}
