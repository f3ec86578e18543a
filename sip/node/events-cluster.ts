// GET /v1/events/stream?scope=cluster: one stream of the whole cluster's events, served by
// any SIP node (README "Live events").
//
// Sources: `agent.state` from this node's own log only (every node follows every shard's
// change feed, so its own log has every agent's changes: taking them from one source is
// what makes each appear once), and `call.*` from this node's log and from each peer's
// per-node stream (peer-fanout.ts's peersOf), read here as an SSE client with the read
// token. A peer's agent events are read but not forwarded; they still move its position.
//
// The SSE id of each event is a composite position, `<node>:<epoch>-<seq>,...` (node ids
// percent-encoded, sorted), naming the position reached in every node's log. Resuming with
// it resumes each source after its own position, so none is missed while held and none
// comes twice; each source's own `gap` semantics apply (a restarted peer, an expired ring)
// and are forwarded with the `node` they concern.
//
// Backpressure: while the reader's socket does not take more, this node stops feeding it
// from its own ring and pauses every peer connection (TCP then holds the peer back, and
// the peer's own stream turns lost events into a gap): at most a socket buffer and one
// partial frame per peer are held per reader.
import { request, type ClientRequest, type IncomingMessage, type ServerResponse } from 'node:http';
import { parsePosition, type EventLog, type LoggedEvent } from './events.js';
import type { Peer } from './peer-fanout.js';

/** Cluster-scope readers at once per node: each holds a connection to every peer. */
export const clusterStreamReadersMax = 16;
export const peerRetryMinMs = 250;
export const peerRetryMaxMs = 5_000;
/** A peer's frame larger than this ends its connection (it is reconnected): bounded memory. */
export const peerFrameBytesMax = 1 << 20;
/** A peer sends a keep-alive comment every 15 s: silence for longer is a dead link. */
export const peerIdleMsDefault = 40_000;

export type Composite = Map<string, string>;

/** `<node>:<epoch>-<seq>,...` → node → position, or null when malformed (an empty entry,
 * a bad position, a node twice). */
export function parseComposite(text: string): Composite | null {
  const out: Composite = new Map();
  for (const part of text.trim().split(',')) {
    const at = part.lastIndexOf(':');
    if (at <= 0) return null;
    let node: string;
    try {
      node = decodeURIComponent(part.slice(0, at));
    } catch {
      return null;
    }
    const pos = part.slice(at + 1);
    if (node === '' || out.has(node) || parsePosition(pos) === null) return null;
    out.set(node, pos);
  }
  return out;
}

export function formatComposite(c: Composite): string {
  return [...c.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([n, p]) => `${encodeURIComponent(n)}:${p}`).join(',');
}

export type ClusterStreamOptions = Readonly<{
  log: EventLog;
  nodeId: string;
  peers: readonly Peer[];
  readToken: string;
  /** null: every source from its oldest held; 'now': from the next event of each. */
  after: Composite | 'now' | null;
  keepAliveMs: number;
  peerIdleMs: number;
}>;

/** Serves one cluster-scope reader on `res` (headers already sent) until it closes. */
export function serveClusterStream(res: ServerResponse, o: ClusterStreamOptions): void {
  const { log } = o;
  const positions: Composite = new Map();
  let closed = false;
  let paused = false;
  const links: PeerLink[] = [];

  const send = (frame: string): void => {
    if (closed) return;
    if (!res.write(frame) && !paused) {
      paused = true;
      for (const l of links) l.pause();
      res.once('drain', () => {
        paused = false;
        for (const l of links) l.resume();
        pump();
      });
    }
  };
  const sendEvent = (ev: LoggedEvent): void => {
    positions.set(ev.node, ev.id);
    send(`id: ${formatComposite(positions)}\nevent: ${ev.type}\ndata: ${JSON.stringify(ev)}\n\n`);
  };
  // peer-down/up carry no id: they do not move the reader's position. A gap carries the
  // composite position past it (the source's position is already there): a reader that
  // reconnects is not told the same gap again.
  const notice = (event: string, data: object): void => send(`event: ${event}\ndata: ${JSON.stringify({ ...data, at: new Date().toISOString() })}\n\n`);
  const gapNotice = (data: object): void => send(`id: ${formatComposite(positions)}\nevent: gap\ndata: ${JSON.stringify({ ...data, at: new Date().toISOString() })}\n\n`);

  // This node's log, as the per-node stream reads it.
  const ownAfter = o.after === 'now' ? 'now' : o.after?.get(o.nodeId) ?? null;
  const resume = ownAfter === 'now' ? { gap: null, fromSeq: log.lastSeq + 1 } : log.resumeFrom(ownAfter);
  let cursor = resume.fromSeq;
  positions.set(o.nodeId, `${log.epoch}-${cursor - 1}`);
  for (const [node, pos] of o.after === 'now' || o.after === null ? [] : o.after) {
    if (o.peers.some((p) => p.id === node)) positions.set(node, pos);
  }
  if (resume.gap !== null) gapNotice({ node: o.nodeId, ...resume.gap, oldestHeld: `${log.epoch}-${log.oldestSeq}` });
  const pump = (): void => {
    while (!paused && !closed && cursor <= log.lastSeq) {
      if (cursor < log.oldestSeq) {
        const lost = { node: o.nodeId, epoch: log.epoch, fromSeq: cursor, toSeq: log.oldestSeq - 1, reason: 'expired' };
        cursor = log.oldestSeq;
        positions.set(o.nodeId, `${log.epoch}-${cursor - 1}`);
        gapNotice(lost);
      }
      sendEvent(log.get(cursor++)!);
    }
  };

  for (const peer of o.peers) {
    const from = o.after === 'now' ? 'now' : o.after?.get(peer.id) ?? null;
    links.push(new PeerLink(peer, o.readToken, from, o.peerIdleMs, {
      position: (pos) => positions.set(peer.id, pos),
      event: (ev) => {
        if (ev.type.startsWith('call.')) sendEvent(ev);
        else positions.set(peer.id, ev.id);
      },
      gap: (g) => gapNotice({ ...g, node: peer.id }),
      up: () => notice('peer-up', { node: peer.id }),
      down: (error) => notice('peer-down', { node: peer.id, error }),
      isPaused: () => paused,
    }));
  }
  pump();
  const unsubscribe = log.subscribe(pump);
  const keepAlive = setInterval(() => res.write(': keep-alive\n\n'), o.keepAliveMs);
  res.once('close', () => {
    closed = true;
    unsubscribe();
    clearInterval(keepAlive);
    for (const l of links) l.close();
  });
}

type LinkSink = Readonly<{
  position(pos: string): void;
  event(ev: LoggedEvent): void;
  gap(g: { epoch?: string; toSeq?: number | null; reason?: string }): void;
  up(): void;
  down(error: string): void;
  isPaused(): boolean;
}>;

/** One peer's per-node stream, reconnected with backoff from the last position it gave. */
class PeerLink {
  #state: 'connecting' | 'up' | 'down' = 'connecting';
  #req: ClientRequest | null = null;
  #res: IncomingMessage | null = null;
  #retryMs = peerRetryMinMs;
  #timer: NodeJS.Timeout | null = null;
  #closed = false;
  #from: string | null;

  constructor(private readonly peer: Peer, private readonly token: string, from: string | null, private readonly idleMs: number, private readonly sink: LinkSink) {
    this.#from = from;
    this.#connect();
  }

  pause(): void {
    this.#res?.pause();
  }

  resume(): void {
    this.#res?.resume();
  }

  close(): void {
    this.#closed = true;
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#req?.destroy();
  }

  #connect(): void {
    const query = this.#from === null ? '' : `?after=${encodeURIComponent(this.#from)}`;
    const req = request(`${this.peer.baseUrl}/v1/events/stream${query}`, { agent: false, headers: { authorization: `Bearer ${this.token}`, accept: 'text/event-stream' } });
    this.#req = req;
    let failed = false;
    const fail = (error: string): void => {
      if (failed || this.#closed) return;
      failed = true;
      req.destroy();
      this.#res = null;
      if (this.#state !== 'down') this.sink.down(error);
      this.#state = 'down';
      this.#timer = setTimeout(() => this.#connect(), this.#retryMs);
      this.#retryMs = Math.min(this.#retryMs * 2, peerRetryMaxMs);
    };
    req.on('error', (err) => fail(err.message));
    req.on('response', (res) => {
      if (res.statusCode !== 200) {
        res.resume();
        fail(`HTTP ${res.statusCode}`);
        return;
      }
      this.#res = res;
      this.#retryMs = peerRetryMinMs;
      this.#state = 'up';
      this.sink.up();
      if (this.sink.isPaused()) res.pause();
      // Silence is a dead link, unless it is this reader that stopped reading.
      res.socket.setTimeout(this.idleMs, () => {
        if (!this.sink.isPaused()) fail(`no data within ${this.idleMs} ms`);
      });
      let buf = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        buf += chunk;
        for (let end = buf.indexOf('\n\n'); end >= 0 && !failed; end = buf.indexOf('\n\n')) {
          this.#frame(buf.slice(0, end));
          buf = buf.slice(end + 2);
        }
        if (buf.length > peerFrameBytesMax) fail(`a frame over ${peerFrameBytesMax} bytes`);
      });
      res.on('end', () => fail('the peer ended the stream'));
      res.on('close', () => fail('connection closed'));
      res.on('error', (err) => fail(err.message));
    });
    req.end();
  }

  #frame(block: string): void {
    let event = 'message';
    let data: string | null = null;
    for (const line of block.split('\n')) {
      if (line.startsWith(': position ')) {
        const pos = line.slice(': position '.length);
        if (parsePosition(pos) !== null) this.#setPosition(pos);
      } else if (line.startsWith('event: ')) event = line.slice(7);
      else if (line.startsWith('data: ')) data = line.slice(6);
    }
    if (data === null) return;
    let parsed: unknown;
    try {
      parsed = JSON.parse(data);
    } catch {
      return;
    }
    if (event === 'gap') {
      const g = parsed as { epoch?: string; toSeq?: number | null; reason?: string };
      if (g.reason === 'expired' && typeof g.toSeq === 'number') this.#setPosition(`${g.epoch}-${g.toSeq}`);
      this.sink.gap(g);
      return;
    }
    const ev = parsed as LoggedEvent;
    if (typeof ev.id !== 'string' || typeof ev.type !== 'string') return;
    this.#setPosition(ev.id);
    this.sink.event(ev);
  }

  #setPosition(pos: string): void {
    this.#from = pos;
    this.sink.position(pos);
  }
}
