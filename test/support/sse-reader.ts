// A server-sent-events reader over a real socket for the event-stream tests: it keeps the
// frames as they come (event, id, parsed JSON data), so a test can wait for an event,
// close the connection, and reconnect with the last id it saw.
import { get as httpGet, type IncomingMessage } from 'node:http';

export type SseFrame = { event: string; id: string | null; data: unknown };
export type SseReader = { frames: SseFrame[]; status: number; close(): void };

/** GETs `path` from 127.0.0.1:`port` with a bearer token and collects its SSE frames;
 * comment lines and frames without data are skipped. Resolves once the response began. */
export function readSse(port: number, path: string, token: string, headers: Record<string, string> = {}): Promise<SseReader> {
  return new Promise((resolve, reject) => {
    const req = httpGet({ host: '127.0.0.1', port, path, headers: { authorization: `Bearer ${token}`, ...headers } }, (res: IncomingMessage) => {
      const reader: SseReader = { frames: [], status: res.statusCode ?? 0, close: () => req.destroy() };
      let buf = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        buf += chunk;
        for (let end = buf.indexOf('\n\n'); end >= 0; end = buf.indexOf('\n\n')) {
          const block = buf.slice(0, end);
          buf = buf.slice(end + 2);
          const f: SseFrame = { event: 'message', id: null, data: null };
          for (const line of block.split('\n')) {
            if (line.startsWith('event: ')) f.event = line.slice(7);
            else if (line.startsWith('id: ')) f.id = line.slice(4);
            else if (line.startsWith('data: ')) f.data = JSON.parse(line.slice(6));
          }
          if (f.data !== null) reader.frames.push(f);
        }
      });
      res.on('error', () => {});
      resolve(reader);
    });
    req.on('error', (err) => (err.message.includes('socket hang up') ? undefined : reject(err)));
  });
}
