// Who may do what on the shard RPC, once the handshake (auth.ts) has named the principal,
// and what of an answer each may see. One table, checked by the RPC server before a
// request reaches the Raft group; a refusal is SHARD_ERR_FORBIDDEN and proposes nothing.
//
// | principal      | commands                                                      | reads, feeds       |
// |----------------|---------------------------------------------------------------|--------------------|
// | `sip:<id>`     | openSession; register, unregister (any DN: the node has       | all, HA1s included |
// |                | checked the phone's digest); reserve and releaseByOwner with  |                    |
// |                | owner <id> only; confirm and release of its own grants only;  |                    |
// |                | renewLease of its own lease only; expire (applies only once   |                    |
// |                | a TTL has run out); enqueue, dequeue, unclaim with owner <id> |                    |
// |                | only (the shard refuses another node's entry), and claim with |                    |
// |                | claimer <id> (any agent for any entry: the reservation on the |                    |
// |                | agent's shard still decides). Not expireLease: the leader     |                    |
// |                | proposes it                                                   |                    |
// |                | (nor setShardMap: the leader proposes its cluster file's map; |                    |
// |                | nor placeMember: only an operator adds a replica)             |                    |
// |                | putService only with ifAbsent (seeding its cluster file's     |                    |
// |                | services); not deleteService                                  |                    |
// | `admin`        | every command: provisioning, login/logout/ready/not-ready,    | all, HA1s removed  |
// | `launcher`     | and the grant commands an operator or a test drives by hand   |                    |
// | `replica:<id>` | none (a replica's own client only reads: cluster view)        | all, HA1s removed  |
// | `store:<id>`   | none (a store's own client only reads: cluster view, its      | all, HA1s removed  |
// |                | per-shard status routes)                                      |                    |
//
// A store's own client authenticates as `store:<store id>`, not `replica:<store id>`: the
// rights are the same, but the name says which kind of process holds the key, in logs
// and in the handshake (a store id and a replica id may coincide in a cluster file).
// The admin REST's writes (PUT /v1/agents, POST .../state) reach the leader as `admin`:
// the replica has checked the admin bearer token first. A digest HA1 leaves a shard only to
// a SIP node, the one role that verifies REGISTERs with it; everyone else sees whether an
// agent has credentials ({user, realm}) but not the hashes.
import { isAgentRecord, type Agent, type Command, type ShardResult } from '../types.js';
import type { Principal } from './auth.js';
import type { FeedPage } from './protocol.js';

/** What a reader other than a SIP node gets in place of an agent's DigestCredentials. */
export type RedactedCredentials = Readonly<{ user: string; realm: string }>;

/** Why `principal` may not propose `command`, or null when it may. `reservationOwner`
 * looks up the owner of a reservation the replica holds now (null if it holds none by
 * that id: the state machine then answers, and it names no other node's grant). */
export function commandRefusal(principal: Principal, command: Command, reservationOwner: (dn: string, reservationId: string) => string | null): string | null {
  switch (principal.kind) {
    case 'admin':
    case 'launcher':
      return null;
    case 'replica':
      return `${command.type} is not open to a replica's own client`;
    case 'store':
      return `${command.type} is not open to a store's own client`;
    case 'sip':
      break;
  }
  const self = principal.id;
  switch (command.type) {
    case 'openSession':
    case 'register':
    case 'unregister':
    case 'expire':
      return null;
    case 'reserve':
    case 'releaseByOwner':
    case 'renewLease':
    case 'enqueue':
    case 'dequeue':
    case 'unclaim':
      return command.owner === self ? null : `sip:${self} may only ${command.type} with owner ${JSON.stringify(self)}, not ${JSON.stringify(command.owner.slice(0, 80))}`;
    case 'putService':
      // A SIP node seeds its cluster file's services; only an operator may change one.
      return command.ifAbsent ? null : 'putService is an administrative command unless ifAbsent (admin or launcher only)';
    case 'claim':
      return command.claimer === self ? null : `sip:${self} may only claim with claimer ${JSON.stringify(self)}, not ${JSON.stringify(command.claimer.slice(0, 80))}`;
    case 'confirm':
    case 'release': {
      const owner = reservationOwner(command.dn, command.reservationId);
      return owner === null || owner === self ? null : `reservation ${command.reservationId.slice(0, 80)} on DN ${command.dn} belongs to another SIP node`;
    }
    case 'provision':
    case 'deprovision':
    case 'login':
    case 'ready':
    case 'notReady':
    case 'logout':
    case 'tick':
    case 'expireLease':
    case 'setShardMap':
    case 'placeMember':
    case 'deleteService':
      return `${command.type} is an administrative command (admin or launcher only)`;
  }
}

/** Whether answers to `principal` may carry digest HA1s. */
export function seesCredentials(principal: Principal): boolean {
  return principal.kind === 'sip';
}

/** `agent` with its HA1s replaced by {user, realm} (null stays null). */
export function withoutHa1(agent: Agent): Agent {
  if (agent.credentials === null) return agent;
  const credentials: RedactedCredentials = { user: agent.credentials.user, realm: agent.credentials.realm };
  return { ...agent, credentials: credentials as Agent['credentials'] };
}

function isAgentLike(v: unknown): v is Agent {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && Object.hasOwn(v, 'credentials') && Object.hasOwn(v, 'dn');
}

/** A read answer (an agent, a list of agents, reservations, a status) without HA1s. */
export function readWithoutHa1(result: unknown): unknown {
  if (Array.isArray(result)) return result.map((x) => (isAgentLike(x) ? withoutHa1(x) : x));
  return isAgentLike(result) ? withoutHa1(result) : result;
}

/** A command's result without HA1s (the agent a provision, reserve, ... returns). */
export function resultWithoutHa1(result: unknown): unknown {
  const r = result as ShardResult | null;
  if (typeof r !== 'object' || r === null || !r.ok) return result;
  if (r.type === 'agent' || r.type === 'reserved') return { ...r, agent: withoutHa1(r.agent) };
  return result;
}

export function pageWithoutHa1(page: FeedPage): FeedPage {
  if (!page.changes.some((c) => isAgentRecord(c) && c.agent !== null && c.agent.credentials !== null)) return page;
  return { ...page, changes: page.changes.map((c) => (!isAgentRecord(c) || c.agent === null ? c : { ...c, agent: withoutHa1(c.agent) })) };
}
