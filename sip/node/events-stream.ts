// GET /v1/events/stream: the node's event log (events.ts) as server-sent events, resumable.
// A reader that reconnects with `Last-Event-ID` (EventSource does it by itself) or
// `?after=<position>` first gets every held event after that position, then the live
// ones: none missed, none twice. When the ring no longer holds some of them, or the
// position is of the node's previous life, an `event: gap` (with no id, so the reader's
// position stays where it was) says which were lost before the rest follows.
//
// Each reader has a cursor (the seq it gets next) and is fed from the ring, replay and
// live events alike, only while its socket takes them (TCP backpressure: at most one
// socket buffer per reader, whatever it is behind). A reader that falls behind the ring
// (the events it was due were overwritten) gets a `gap` for them and goes on from the
// oldest held: never a silent skip, never unbounded memory.
//
// `?scope=cluster` hands the reader to events-cluster.ts: every SIP node's events in one
// stream, with composite positions.
import type { ServerResponse } from 'node:http';
import type { FastifyInstance } from 'fastify';
import { sendProblem } from '../../common/admin.js';
import { clusterStreamReadersMax, parseComposite, peerIdleMsDefault, serveClusterStream } from './events-cluster.js';
import { parsePosition, type EventLog, type LoggedEvent } from './events.js';
import type { Peer } from './peer-fanout.js';

/** Readers at once per node, and the keep-alive comment interval (proxies close idle
 * streams). */
export const eventStreamClientsMax = 64;
export const eventStreamKeepAliveMs = 15_000;

export function frameOf(ev: LoggedEvent): string {
  return `id: ${ev.id}\nevent: ${ev.type}\ndata: ${JSON.stringify(ev)}\n\n`;
}

export type EventStreamOptions = {
  events: EventLog;
  /** For `scope=cluster` (events-cluster.ts): the other SIP nodes, and the token to read them. */
  peers?: () => readonly Peer[];
  readToken?: string;
  /** A peer stream silent for this long is down (its keep-alive comes every 15 s). */
  peerIdleMs?: number;
};

const sseHeaders = { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-store', connection: 'keep-alive', 'x-accel-buffering': 'no' };

export async function eventStreamRoutes(app: FastifyInstance, opts: EventStreamOptions): Promise<void> {
  const log = opts.events;
  const open = new Set<ServerResponse>();
  const clusterOpen = new Set<ServerResponse>();
  app.addHook('preClose', async () => {
    // A hijacked response would hold server.close() open: end the streams first.
    for (const res of [...open, ...clusterOpen]) res.end();
  });

  app.get('/v1/events/stream', {
    config: { scope: 'read' },
    schema: {
      summary: 'Live events (agent state changes; this node\'s calls queued, offered, answered, abandoned, ended; with scope=cluster every SIP node\'s calls) as server-sent events, resumable with Last-Event-ID or ?after=',
      querystring: {
        type: 'object',
        additionalProperties: false,
        properties: {
          token: { type: 'string' },
          after: { type: 'string', maxLength: 4096, description: 'resume after this position (an event id); default: from the oldest held' },
          scope: { type: 'string', enum: ['node', 'cluster'], default: 'node', description: 'cluster: every SIP node\'s events in one stream, with composite positions' },
        },
      },
      response: { 400: { $ref: 'Problem#' }, 401: { $ref: 'Problem#' }, 503: { $ref: 'Problem#' } },
    },
  }, async (req, reply) => {
    const query = req.query as { after?: string; scope?: 'node' | 'cluster' };
    if (query.scope === 'cluster') {
      if (clusterOpen.size >= clusterStreamReadersMax) {
        reply.header('retry-after', '5');
        return sendProblem(reply, 'ADMIN_ERR_UNAVAILABLE', `the cluster event stream has its maximum of ${clusterStreamReadersMax} readers`);
      }
      const header = req.headers['last-event-id'];
      const fromHeader = typeof header === 'string' && header.trim() !== '';
      const lastId = fromHeader ? header : query.after;
      const after = lastId === undefined ? null : lastId === 'now' ? 'now' : parseComposite(lastId);
      if (after === null && lastId !== undefined) {
        return sendProblem(reply, 'ADMIN_ERR_BAD_REQUEST', `${JSON.stringify(lastId.slice(0, 80))} is not a cluster position (<node>:<epoch>-<seq>,..., as in a cluster event's id), nor "now"`, fromHeader ? 'headers.last-event-id' : 'querystring.after');
      }
      reply.hijack();
      const res = reply.raw;
      res.writeHead(200, sseHeaders);
      res.write('retry: 2000\n\n');
      clusterOpen.add(res);
      res.once('close', () => clusterOpen.delete(res));
      serveClusterStream(res, { log, nodeId: log.nodeId, peers: opts.peers?.() ?? [], readToken: opts.readToken ?? '', after, keepAliveMs: eventStreamKeepAliveMs, peerIdleMs: opts.peerIdleMs ?? peerIdleMsDefault });
      return;
    }
    if (open.size >= eventStreamClientsMax) {
      reply.header('retry-after', '5');
      return sendProblem(reply, 'ADMIN_ERR_UNAVAILABLE', `the event stream has its maximum of ${eventStreamClientsMax} readers`);
    }
    const header = req.headers['last-event-id'];
    const fromHeader = typeof header === 'string' && header.trim() !== '';
    const lastId = fromHeader ? header : query.after;
    if (lastId !== undefined && lastId !== 'now' && parsePosition(lastId) === null) {
      return sendProblem(reply, 'ADMIN_ERR_BAD_REQUEST', `${JSON.stringify(lastId.slice(0, 40))} is not an event position (<epoch>-<seq>, as in an event's id), nor "now"`, fromHeader ? 'headers.last-event-id' : 'querystring.after');
    }
    // `?after=now`: only events from here on.
    const resume = lastId === 'now' ? { gap: null, fromSeq: log.lastSeq + 1 } : log.resumeFrom(lastId ?? null);
    reply.hijack();
    const res = reply.raw;
    res.writeHead(200, sseHeaders);
    // The position this stream starts after, as a comment (EventSource ignores it): a
    // cluster-scope reader on another node resumes from it when no event came yet.
    res.write(`retry: 2000\n: position ${log.epoch}-${resume.fromSeq - 1}\n\n`);
    const gap = (g: object): void => void res.write(`event: gap\ndata: ${JSON.stringify({ ...g, oldestHeld: `${log.epoch}-${log.oldestSeq}`, position: log.position })}\n\n`);
    if (resume.gap !== null) gap(resume.gap);
    let cursor = resume.fromSeq;
    let waiting = false;
    const pump = (): void => {
      while (!waiting && cursor <= log.lastSeq && !res.destroyed) {
        if (cursor < log.oldestSeq) {
          gap({ epoch: log.epoch, fromSeq: cursor, toSeq: log.oldestSeq - 1, reason: 'expired' });
          cursor = log.oldestSeq;
        }
        if (!res.write(frameOf(log.get(cursor++)!))) {
          waiting = true;
          res.once('drain', () => {
            waiting = false;
            pump();
          });
        }
      }
    };
    pump();
    const unsubscribe = log.subscribe(pump);
    const keepAlive = setInterval(() => res.write(': keep-alive\n\n'), eventStreamKeepAliveMs);
    open.add(res);
    res.once('close', () => {
      open.delete(res);
      unsubscribe();
      clearInterval(keepAlive);
    });
  });
}
