// Proves the shard error catalogue is whole: every SHARD_ERR_ code written anywhere in the
// sources (shards, sip, gateway, common, bench, test) is in shards/errors.ts; every code of
// the catalogue and of RaftErrorCode has its retryability stated and an explicit HTTP
// status in the admin REST mapping; and the shard client retries exactly the codes it
// retried before the catalogue existed (issue 17 is a no-behaviour-change refactor).

import t from 'tap';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { httpStatusByCode, httpStatusOf } from '../../common/admin.js';
import {
  carriedCode,
  isRetryable,
  isShardErrorCode,
  isShardRpcErrorCode,
  retryOf,
  shardErrorCodes,
  shardStateErrorCodes,
  shardTransportErrorCodes,
  type ShardRpcErrorCode,
} from '../../shards/errors.js';
import type { RaftErrorCode } from '../../raft/types.js';

const root = fileURLToPath(new URL('../..', import.meta.url));

// Spelled out so that a Raft code added without a retry decision fails here too (the
// Record in errors.ts fails to compile first).
const raftCodes: readonly RaftErrorCode[] = [
  'RAFT_ERR_NOT_LEADER', 'RAFT_ERR_OVERLOADED', 'RAFT_ERR_CONF_CHANGE_PENDING', 'RAFT_ERR_TRANSFER_IN_PROGRESS',
  'RAFT_ERR_UNKNOWN_NODE', 'RAFT_ERR_FAILED', 'RAFT_ERR_COMPACTED', 'RAFT_ERR_CORRUPT', 'RAFT_ERR_STORAGE',
  'RAFT_ERR_TIMEOUT', 'RAFT_ERR_CLOSED',
];
const rpcCodes: readonly ShardRpcErrorCode[] = [...shardErrorCodes, ...raftCodes];

function sourceFiles(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    if (name === 'node_modules' || name.startsWith('.')) continue;
    const path = join(dir, name);
    if (statSync(path).isDirectory()) out.push(...sourceFiles(path));
    else if (name.endsWith('.ts')) out.push(path);
  }
  return out;
}

t.test('every SHARD_ERR_ code in the sources is in the catalogue', async (t) => {
  const found = new Map<string, string>();
  for (const area of ['shards', 'sip', 'gateway', 'common', 'bench', 'test']) {
    for (const file of sourceFiles(join(root, area))) {
      // A code is SHARD_ERR_ followed by a name; `SHARD_ERR_(AGENT_)?` in a regex is not one.
      for (const m of readFileSync(file, 'utf8').matchAll(/\bSHARD_ERR_[A-Z][A-Z_]*[A-Z]\b/g)) {
        if (!found.has(m[0])) found.set(m[0], file.slice(root.length));
      }
    }
  }
  t.ok(found.size >= shardErrorCodes.length, `${found.size} distinct codes found`);
  for (const [code, file] of found) t.ok(isShardErrorCode(code), `${code} (first seen in ${file}) is in shards/errors.ts`);
});

t.test('the two families are disjoint and make up the catalogue', async (t) => {
  const state = new Set<string>(shardStateErrorCodes);
  t.same(shardTransportErrorCodes.filter((c) => state.has(c)), []);
  t.equal(new Set(shardErrorCodes).size, shardStateErrorCodes.length + shardTransportErrorCodes.length);
  for (const c of shardErrorCodes) t.match(c, /^SHARD_ERR_[A-Z_]+$/);
});

t.test('retryability is stated for every code', async (t) => {
  for (const code of rpcCodes) {
    t.ok(isShardRpcErrorCode(code), `${code} is an RPC code`);
    t.ok(['replica', 'resend', 'never'].includes(retryOf(code)), `${code}: ${retryOf(code)}`);
  }
});

t.test('the client retries exactly the codes it retried before', async (t) => {
  // The shard client's former `retryable` set, verbatim.
  const before = [
    'SHARD_ERR_TIMEOUT', 'SHARD_ERR_UNAVAILABLE', 'RAFT_ERR_NOT_LEADER', 'RAFT_ERR_TIMEOUT', 'RAFT_ERR_CLOSED',
    'RAFT_ERR_FAILED', 'RAFT_ERR_STORAGE', 'RAFT_ERR_OVERLOADED', 'RAFT_ERR_TRANSFER_IN_PROGRESS',
  ];
  t.same(rpcCodes.filter(isRetryable).sort(), [...before].sort());
  // test/chaos/shard-load.ts's former `sessionBusy` set: refused unapplied, send again.
  t.same(rpcCodes.filter((c) => retryOf(c) === 'resend').sort(), ['SHARD_ERR_SESSION_REQUIRED', 'SHARD_ERR_TOO_MANY_PENDING']);
});

t.test('a foreign code is carried verbatim and never retried', async (t) => {
  for (const foreign of ['ERR_SOCKET_BAD_PORT', 'SHARD_ERR_' + 'NOT_A_CODE', 'constructor', '__proto__', '']) {
    const code = carriedCode(foreign);
    t.equal(code, foreign);
    t.notOk(isShardRpcErrorCode(code), `${JSON.stringify(foreign)} is not in the catalogue`);
    t.notOk(isRetryable(code), `${JSON.stringify(foreign)} is not retried`);
    t.equal(retryOf(code), 'never');
  }
  t.equal(carriedCode('RAFT_ERR_NOT_LEADER'), 'RAFT_ERR_NOT_LEADER');
  t.ok(isRetryable(carriedCode('RAFT_ERR_NOT_LEADER')));
});

t.test('the admin REST maps every code explicitly', async (t) => {
  for (const code of rpcCodes) {
    t.ok(Object.hasOwn(httpStatusByCode, code), `${code} has an explicit status`);
    t.ok(httpStatusOf(code) >= 400 && httpStatusOf(code) < 600, `${code} → ${httpStatusOf(code)}`);
  }
  // Entries added with the catalogue keep the status the fallback rule gave them.
  t.equal(httpStatusOf('SHARD_ERR_SESSION'), 500);
  t.equal(httpStatusOf('SHARD_ERR_INTERNAL'), 500);
  t.equal(httpStatusOf('SHARD_ERR_INVALID_COMMAND'), 400);
  t.equal(httpStatusOf('RAFT_ERR_COMPACTED'), 500);
  t.equal(httpStatusOf('RAFT_ERR_CORRUPT'), 500);
});
