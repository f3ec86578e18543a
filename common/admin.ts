// The admin REST base every node shares: fastify with JSON-schema validation, OpenAPI at
// /docs, bearer-token scopes, Prometheus /metrics, and one error mapping that turns
// typed error codes into HTTP statuses with an RFC 9457 problem body.
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import { timingSafeEqual } from 'node:crypto';
import { STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Registry } from 'prom-client';
import { adminBodyBytesMaxDefault } from './limits.js';

export type Scope = 'read' | 'admin';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** Which token a route needs; `public` routes (docs, dashboard shell) need none. */
    scope?: Scope | 'public';
  }
}

export type AdminOptions = Readonly<{
  title: string;
  tokens: Readonly<{ read: string; admin: string }>;
  registry: Registry;
  /** Bytes; bodies beyond it get 413 before parsing (default adminBodyBytesMaxDefault). */
  bodyLimitBytes?: number;
}>;

/** A typed condition with a stable code; `httpStatusOf` decides its status. */
export class AdminError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly field?: string,
  ) {
    super(message);
  }
}

/** One place mapping every area's error codes to HTTP statuses. Every code of the shard
 * catalogue (shards/errors.ts) and of RaftErrorCode has an entry; test/shards/errors.test.ts
 * checks it. */
export const httpStatusByCode: Readonly<Record<string, number>> = {
  ADMIN_ERR_BAD_REQUEST: 400,
  ADMIN_ERR_NOT_FOUND: 404,
  ADMIN_ERR_UNAUTHORIZED: 401,
  ADMIN_ERR_FORBIDDEN: 403,
  ADMIN_ERR_UNAVAILABLE: 503,
  ADMIN_ERR_PEER_FAILED: 502,
  RAFT_ERR_NOT_LEADER: 503,
  RAFT_ERR_TIMEOUT: 504,
  RAFT_ERR_OVERLOADED: 503,
  RAFT_ERR_CONF_CHANGE_PENDING: 409,
  RAFT_ERR_TRANSFER_IN_PROGRESS: 409,
  RAFT_ERR_UNKNOWN_NODE: 404,
  RAFT_ERR_FAILED: 503,
  RAFT_ERR_CLOSED: 503,
  RAFT_ERR_STORAGE: 503,
  RAFT_ERR_COMPACTED: 500,
  RAFT_ERR_CORRUPT: 500,
  SHARD_ERR_BAD_COMMAND: 400,
  SHARD_ERR_UNKNOWN_DN: 404,
  SHARD_ERR_UNKNOWN_SHARD: 404,
  SHARD_ERR_AGENT_LOGGED_OUT: 409,
  SHARD_ERR_AGENT_NOT_READY: 409,
  SHARD_ERR_AGENT_RESERVED: 409,
  SHARD_ERR_AGENT_BUSY: 409,
  SHARD_ERR_AGENT_WRAP_UP: 409,
  SHARD_ERR_STALE_RESERVATION: 409,
  SHARD_ERR_NOT_EXPIRED: 409,
  SHARD_ERR_STALE_REGISTRATION: 409,
  SHARD_ERR_LEASE_RENEWED: 409,
  SHARD_ERR_LIMIT: 507,
  SHARD_ERR_SESSION_REQUIRED: 400,
  SHARD_ERR_SESSION_EXPIRED: 503,
  SHARD_ERR_TOO_MANY_PENDING: 503,
  SHARD_ERR_UNAVAILABLE: 503,
  SHARD_ERR_TIMEOUT: 504,
  SHARD_ERR_CLOSED: 503,
  SHARD_ERR_SESSION: 500,
  SHARD_ERR_INTERNAL: 500,
  SHARD_ERR_INVALID_COMMAND: 400,
  // The node behind the admin REST could not authenticate to a replica (its cluster
  // secret differs): a failed upstream, not the caller's token.
  SHARD_ERR_UNAUTHENTICATED: 502,
  SHARD_ERR_FORBIDDEN: 403,
  SHARD_ERR_RPC_LIMIT: 429,
  // The command reached a shard that does not own the DN under its replicated map.
  SHARD_ERR_WRONG_SHARD: 421,
  SHARD_ERR_MAP_VERSION: 409,
  SHARD_ERR_QUEUE_FULL: 503,
  SHARD_ERR_QUEUE_OWNER: 409,
};

export function httpStatusOf(code: string): number {
  return httpStatusByCode[code] ?? (code.endsWith('_NOT_FOUND') ? 404 : code.includes('_INVALID') ? 400 : 500);
}

export type Problem = { type: string; title: string; status: number; code: string; detail: string; field?: string };

export function problem(code: string, detail: string, field?: string): Problem {
  const status = httpStatusOf(code);
  return { type: `urn:ringfence:error:${code}`, title: code, status, code, detail, ...(field ? { field } : {}) };
}

export function sendProblem(reply: FastifyReply, code: string, detail: string, field?: string): FastifyReply {
  const body = problem(code, detail, field);
  return reply.code(body.status).type('application/problem+json').send(body);
}

/** JSON schema of the problem body, referenced by routes' error responses. */
export const problemSchema = {
  $id: 'Problem',
  type: 'object',
  properties: {
    type: { type: 'string' },
    title: { type: 'string' },
    status: { type: 'integer' },
    code: { type: 'string' },
    detail: { type: 'string' },
    field: { type: 'string' },
  },
  required: ['type', 'title', 'status', 'code', 'detail'],
} as const;

function tokenEquals(given: string, expected: string): boolean {
  const a = Buffer.from(given);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}

function authenticate(req: FastifyRequest, reply: FastifyReply, tokens: AdminOptions['tokens']): FastifyReply | undefined {
  const scope = req.routeOptions.config?.scope ?? 'read';
  if (scope === 'public') return undefined;
  const header = req.headers.authorization;
  const fromQuery = (req.query as Record<string, unknown> | undefined)?.token;
  // EventSource cannot set headers, so the dashboard's live stream passes the token in the query.
  const token = header?.startsWith('Bearer ') ? header.slice(7) : typeof fromQuery === 'string' ? fromQuery : undefined;
  if (token === undefined) {
    reply.header('www-authenticate', 'Bearer realm="ringfence"');
    return sendProblem(reply, 'ADMIN_ERR_UNAUTHORIZED', 'missing bearer token');
  }
  const isAdmin = tokenEquals(token, tokens.admin);
  const isRead = isAdmin || tokenEquals(token, tokens.read);
  if (!isRead) return sendProblem(reply, 'ADMIN_ERR_UNAUTHORIZED', 'unknown bearer token');
  if (scope === 'admin' && !isAdmin) return sendProblem(reply, 'ADMIN_ERR_FORBIDDEN', 'this route needs the admin token');
  return undefined;
}

/** Turns fastify's ajv message (`body/state must be equal to one of ...`) into a field path. */
function fieldOf(err: { validation?: { instancePath?: string; params?: Record<string, unknown> }[]; validationContext?: string }): string | undefined {
  const v = err.validation?.[0];
  if (!v) return undefined;
  const missing = v.params?.missingProperty;
  const path = (v.instancePath ?? '').replace(/^\//, '').replace(/\//g, '.');
  const parts = [err.validationContext ?? 'body', path, typeof missing === 'string' ? missing : ''].filter(Boolean);
  return parts.join('.');
}

/** Bytes that never parsed as HTTP (a bad chunk size, a body shorter than its
 * Content-Length, a header too long): a problem body, then the connection is closed. If a
 * response to the request has already begun on this socket, nothing more is written — a
 * second status line would corrupt the stream — and the socket is only closed. Replaces
 * fastify's default, whose body is not a problem and which wrote even mid-response. */
function answerClientError(err: Error & { code?: string }, socket: Duplex): void {
  if (err.code === 'ECONNRESET' || socket.destroyed) return;
  // Node's own handler makes the same test (its socketOnError): `_httpMessage` is the
  // socket's in-flight ServerResponse.
  const inFlight = (socket as Duplex & { _httpMessage?: { headersSent?: boolean } | null })._httpMessage;
  if (socket.writable && inFlight?.headersSent !== true) {
    const status = err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 408 : err.code === 'HPE_HEADER_OVERFLOW' ? 431 : 400;
    const body = JSON.stringify({ ...problem('ADMIN_ERR_BAD_REQUEST', `malformed HTTP request (${err.code ?? 'parse error'})`), status });
    socket.write(`HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\ncontent-type: application/problem+json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`);
  }
  socket.destroy();
}

export async function createAdminApp(opts: AdminOptions): Promise<FastifyInstance> {
  const app = Fastify({
    logger: false,
    // Node answers an HTTP/1.1 request without Host with a bare 400 of its own, and then,
    // if the body is malformed too, fastify wrote a second response on the same socket.
    // The onRequest hook below refuses it with a problem body instead.
    http: { requireHostHeader: false },
    clientErrorHandler: answerClientError,
    bodyLimit: opts.bodyLimitBytes ?? adminBodyBytesMaxDefault,
    ajv: { customOptions: { removeAdditional: false, coerceTypes: 'array', allErrors: false } },
  });
  app.addSchema(problemSchema);
  // Before the docs plugin registers its routes, so they are marked public.
  app.addHook('onRoute', (route) => {
    if (route.url.startsWith('/docs')) route.config = { ...(route.config ?? {}), scope: 'public' };
  });
  await app.register(swagger, {
    openapi: {
      info: { title: opts.title, version: '0.1.0' },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
      security: [{ bearer: [] }],
    },
  });
  await app.register(swaggerUi, { routePrefix: '/docs', uiConfig: { docExpansion: 'list' } });
  app.addHook('onRequest', async (req, reply) => {
    if (req.raw.httpVersion === '1.1' && req.headers.host === undefined) {
      reply.header('connection', 'close');
      return sendProblem(reply, 'ADMIN_ERR_BAD_REQUEST', 'an HTTP/1.1 request needs a Host header (RFC 9112 section 3.2)', 'headers.host');
    }
    const denied = authenticate(req, reply, opts.tokens);
    if (denied) return denied;
  });
  app.setErrorHandler((err: Error & { validation?: unknown[]; statusCode?: number; code?: string; field?: string; validationContext?: string }, _req, reply) => {
    if (err.validation) {
      const field = fieldOf(err as Parameters<typeof fieldOf>[0]);
      return sendProblem(reply, 'ADMIN_ERR_BAD_REQUEST', err.message, field);
    }
    if (err instanceof AdminError) return sendProblem(reply, err.code, err.message, err.field);
    if (typeof err.code === 'string' && /^(RAFT|SHARD|SIP|GW|ADMIN)_ERR_/.test(err.code)) {
      return sendProblem(reply, err.code, err.message, err.field);
    }
    if (err.statusCode && err.statusCode >= 400 && err.statusCode < 500) {
      // fastify's own client errors: unparsable JSON, wrong content type, body too large.
      const body = { ...problem('ADMIN_ERR_BAD_REQUEST', err.message), status: err.statusCode };
      return reply.code(err.statusCode).type('application/problem+json').send(body);
    }
    return sendProblem(reply, 'ADMIN_ERR_INTERNAL', err.message);
  });
  // Node answers an `Expect:` other than 100-continue with a bare 417 of its own, before
  // any route runs; answer it like every other refusal, with a problem body.
  app.server.on('checkExpectation', (req, res) => {
    const body = JSON.stringify({ ...problem('ADMIN_ERR_BAD_REQUEST', `unsupported Expect: ${String(req.headers.expect).slice(0, 64)}`), status: 417 });
    res.writeHead(417, { 'content-type': 'application/problem+json', 'content-length': Buffer.byteLength(body), connection: 'close' }).end(body);
  });
  app.setNotFoundHandler((req, reply) => sendProblem(reply, 'ADMIN_ERR_NOT_FOUND', `no route ${req.method} ${req.url.split('?')[0]}`));
  app.get('/metrics', { schema: { hide: true }, config: { scope: 'read' } }, async (_req, reply) => {
    reply.type(opts.registry.contentType);
    return opts.registry.metrics();
  });
  return app;
}

/** What /readyz reports: each check by name, ok or not with why. */
export type ReadyCheck = Readonly<{ ok: boolean; detail: string }>;
export type ReadyReport = Readonly<Record<string, ReadyCheck>>;

/** `/healthz` and `/readyz`, unauthenticated (a load balancer or systemd probe holds no
 * token) and cheap (no disk, no consensus round):
 * - /healthz: 200 {"status":"ok"} while the process serves HTTP at all;
 * - /readyz: 200 {"status":"ready","checks":{...}} when every check of `readiness` is ok,
 *   else 503 {"status":"not ready","missing":["<check>: <detail>",...],"checks":{...}}.
 * A readiness function that throws counts as not ready, naming the error. */
export function healthRoutes(app: FastifyInstance, readiness: () => Promise<ReadyReport>): void {
  const checkSchema = { type: 'object', properties: { ok: { type: 'boolean' }, detail: { type: 'string' } }, required: ['ok', 'detail'] } as const;
  const readySchema = {
    type: 'object',
    properties: { status: { type: 'string' }, missing: { type: 'array', items: { type: 'string' } }, checks: { type: 'object', additionalProperties: checkSchema } },
    required: ['status', 'checks'],
  } as const;
  app.get('/healthz', {
    config: { scope: 'public' },
    schema: { summary: 'Liveness: the process is up and serves HTTP', response: { 200: { type: 'object', properties: { status: { type: 'string' } }, required: ['status'] } } },
  }, async () => ({ status: 'ok' }));
  app.get('/readyz', {
    config: { scope: 'public' },
    schema: { summary: 'Readiness: this role can serve (503 names what is missing)', response: { 200: readySchema, 503: readySchema } },
  }, async (_req, reply) => {
    let checks: ReadyReport;
    try {
      checks = await readiness();
    } catch (err) {
      checks = { readiness: { ok: false, detail: (err as Error).message } };
    }
    const missing = Object.entries(checks).filter(([, c]) => !c.ok).map(([name, c]) => `${name}: ${c.detail}`);
    if (missing.length > 0) return reply.code(503).send({ status: 'not ready', missing, checks });
    return { status: 'ready', checks };
  });
}
