// Proves the proposal encoding: every command type round-trips through encode/decode to an
// equal value, equal commands encode to equal bytes whatever their key order, and invalid
// input (bad DN, skill level, unknown field, bad session numbers, oversize, non-JSON) is
// refused with SHARD_ERR_BAD_COMMAND naming the field — decode never throws.

import t from 'tap';
import { decodeProposal, encodeProposal, validateCommand } from '../../shards/commands.js';
import { digestCredentials } from '../../shards/digest-credentials.js';
import * as limits from '../../shards/limits.js';
import type { Command } from '../../shards/types.js';

const samples: Command[] = [
  { type: 'openSession' },
  { type: 'provision', dn: '1001', name: 'Ann', skills: { sales: 90, fr: 0 }, wrapUpMs: 5000, maxNoAnswer: 3, credentials: digestCredentials('1001', 'ringfence', 'pw') },
  { type: 'deprovision', dn: '1001' },
  { type: 'login', dn: '1001' },
  { type: 'ready', dn: '1001' },
  { type: 'notReady', dn: '1001', reason: 'lunch' },
  { type: 'logout', dn: '1001' },
  { type: 'register', dn: '1001', uri: 'sip:1001@10.0.0.9:5060;transport=udp', expiresMs: 3_600_000, q: 0.7, callId: 'a@b', cseq: 12, received: null },
  // From behind a NAT (sip/node/nat-binding.ts): the observed source, and an RFC 5626 flow.
  { type: 'register', dn: '1001', uri: 'sip:1001@10.0.0.9:5060', expiresMs: 60_000, q: 1, callId: 'a@b', cseq: 13, received: { connection: null, host: '198.51.100.7', node: 'sip1', outbound: false, port: 40312, protocol: 'UDP' } },
  { type: 'register', dn: '1001', uri: 'sip:1001@10.0.0.9;transport=tcp;ob', expiresMs: 60_000, q: 1, callId: 'a@b', cseq: 14, received: { connection: 'tcp-7', host: '198.51.100.7', node: 'sip1', outbound: true, port: 40313, protocol: 'TCP' } },
  { type: 'unregister', dn: '1001', uri: null },
  { type: 'unregister', dn: '1001', uri: 'sip:1001@10.0.0.9' },
  { type: 'reserve', dn: '1001', reservationId: 'r-1', callId: 'c-1', owner: 'sip-1', ttlMs: 8000, orphanHoldMs: 0 },
  { type: 'reserve', dn: '1002', reservationId: 'r-2', callId: 'c-2', owner: 'sip-1', ttlMs: 8000, orphanHoldMs: 35_000 },
  { type: 'confirm', dn: '1001', reservationId: 'r-1' },
  { type: 'release', dn: '1001', reservationId: 'r-1', outcome: 'no-answer' },
  { type: 'expire', dn: '1001', reservationId: 'r-1' },
  { type: 'releaseByOwner', owner: 'sip-1', holdMs: 0 },
  { type: 'tick' },
];

t.test('every command type round-trips', async (t) => {
  for (const command of samples) {
    const session = command.type === 'openSession' ? null : { clientId: 'c7', requestSeq: 5, ackedSeq: 4 };
    const decoded = decodeProposal(encodeProposal({ session, command }));
    t.same(decoded, { ok: true, proposal: { session, command } }, command.type);
  }
});

t.test('equal commands give equal bytes regardless of key order', async (t) => {
  const a = encodeProposal({ session: null, command: { ttlMs: 1, owner: 'o', callId: 'c', reservationId: 'r', dn: '1', type: 'reserve' } as Command });
  const b = encodeProposal({ session: null, command: { type: 'reserve', dn: '1', reservationId: 'r', callId: 'c', owner: 'o', ttlMs: 1 } });
  t.same(a, b);
  const p1 = encodeProposal({ session: null, command: { ...(samples[1] as object), skills: { b: 1, a: 2 } } as unknown as Command });
  const p2 = encodeProposal({ session: null, command: { ...(samples[1] as object), skills: { a: 2, b: 1 } } as unknown as Command });
  t.same(p1, p2, 'skills are canonically ordered');
});

t.test('invalid commands are refused with the field named', async (t) => {
  const bad: [unknown, RegExp][] = [
    [{ type: 'login', dn: '12a' }, /command\.dn must be/],
    [{ type: 'login', dn: '1'.repeat(limits.dnDigitsMax + 1) }, /command\.dn/],
    [{ type: 'login' }, /command\.dn is missing/],
    [{ type: 'login', dn: '1', extra: true }, /unknown field "extra"/],
    [{ type: 'launch', dn: '1' }, /command\.type must be one of/],
    [{ ...(samples[1] as object), skills: { sales: 101 } }, /skills\.sales must be an integer in 0\.\.100/],
    [{ ...(samples[1] as object), skills: { sales: 1.5 } }, /skills\.sales/],
    [{ ...(samples[1] as object), skills: { __proto__x: 1 } }, /invalid skill name/],
    [{ ...(samples[1] as object), skills: [] }, /skills must be an object/],
    [{ ...(samples[1] as object), credentials: { user: 'u', realm: 'r', ha1Md5: 'xyz', ha1Sha256: '0'.repeat(64) } }, /ha1Md5/],
    [{ ...(samples[1] as object), wrapUpMs: -1 }, /wrapUpMs/],
    [{ type: 'reserve', dn: '1', reservationId: 'r', callId: 'c', owner: 'o', ttlMs: 0 }, /ttlMs/],
    [{ type: 'release', dn: '1', reservationId: 'r', outcome: 'done' }, /outcome must be one of/],
    [{ type: 'register', dn: '1', uri: 'http://x', expiresMs: 1, q: 1, callId: 'c', cseq: 1 }, /uri must be a sip/],
    [{ type: 'register', dn: '1', uri: 'sip:x', expiresMs: 1, q: 2, callId: 'c', cseq: 1 }, /q must be/],
    [{ type: 'register', dn: '1', uri: 'sip:x', expiresMs: 1, q: 1, callId: 'c', cseq: 1, received: { protocol: 'SCTP', host: 'h', port: 1, node: 'n', connection: null, outbound: false } }, /received.protocol must be one of UDP, TCP/],
    [{ type: 'register', dn: '1', uri: 'sip:x', expiresMs: 1, q: 1, callId: 'c', cseq: 1, received: { protocol: 'UDP', host: 'h', port: 1, node: 'n', connection: null } }, /received.outbound is missing/],
  ];
  for (const [command, pattern] of bad) {
    const result = validateCommand(command);
    t.ok(!result.ok && result.code === 'SHARD_ERR_BAD_COMMAND' && pattern.test(result.reason), `${JSON.stringify(command).slice(0, 60)} → ${pattern}`);
    t.throws(() => encodeProposal({ session: { clientId: 'c', requestSeq: 1, ackedSeq: 0 }, command: command as Command }), /SHARD_ERR_BAD_COMMAND/);
  }
});

t.test('decode refuses malformed bytes and sessions without throwing', async (t) => {
  const enc = (s: string) => new TextEncoder().encode(s);
  const cases: [Uint8Array, RegExp][] = [
    [new Uint8Array([0xc3, 0x28]), /not UTF-8 JSON/],
    [enc('not json'), /not UTF-8 JSON/],
    [enc('[1]'), /proposal must be an object/],
    [enc('{"v":2,"s":null,"c":{"type":"tick"}}'), /version/],
    [enc('{"v":1,"s":null,"c":{"type":"tick"},"x":1}'), /unknown field/],
    [enc('{"v":1,"s":["c",0,0],"c":{"type":"tick"}}'), /requestSeq/],
    [enc('{"v":1,"s":["c",3,3],"c":{"type":"tick"}}'), /ackedSeq/],
    [enc('{"v":1,"s":["",1,0],"c":{"type":"tick"}}'), /clientId/],
    [new Uint8Array(limits.commandBytesMax + 1), /bytes, more than/],
  ];
  for (const [bytes, pattern] of cases) {
    const result = decodeProposal(bytes);
    t.ok(!result.ok && pattern.test(result.reason), `${pattern}: ${result.ok ? 'ok' : result.reason}`);
  }
});

t.test('digest credentials match the RFC 2617 and RFC 7616 examples', async (t) => {
  t.equal(digestCredentials('Mufasa', 'testrealm@host.com', 'Circle Of Life').ha1Md5, '939e7578ed9e3c518a452acee763bce9', 'RFC 2617 §3.5 HA1');
  // RFC 7616 §3.9.1: the response computed from our HA1 must equal the RFC's response.
  const { createHash } = await import('node:crypto');
  const creds = digestCredentials('Mufasa', 'http-auth@example.org', 'Circle of Life');
  const response = (algorithm: 'md5' | 'sha256', ha1: string) => {
    const h = (s: string) => createHash(algorithm).update(s).digest('hex');
    const nonce = '7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v';
    const cnonce = 'f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ';
    return h([ha1, nonce, '00000001', cnonce, 'auth', h('GET:/dir/index.html')].join(':'));
  };
  t.equal(response('sha256', creds.ha1Sha256), '753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1');
  t.equal(response('md5', creds.ha1Md5), '8ca523f5e9506fed4657c9700eebdbec');
  t.notOk(JSON.stringify(creds).includes('Circle'), 'the password is not kept');
});

// validateCommand checks from precompiled specs (field names built once, defaults read in
// place of a merged copy): the same verdicts, in checkFields's order, as before.
t.test('precompiled checks: defaults, order of errors, prototype names', async (t) => {
  const old = validateCommand({ type: 'reserve', dn: '1', reservationId: 'r', callId: 'c', owner: 'o', ttlMs: 1 });
  t.same(old, { ok: true, command: { type: 'reserve', dn: '1', reservationId: 'r', callId: 'c', owner: 'o', ttlMs: 1, orphanHoldMs: 0 } }, 'an entry written before orphanHoldMs/wrapUpMs decodes with their defaults, wrapUpMs left out');
  const given = validateCommand({ type: 'reserve', dn: '1', reservationId: 'r', callId: 'c', owner: 'o', ttlMs: 1, orphanHoldMs: 5, wrapUpMs: 7 });
  t.same(given, { ok: true, command: { type: 'reserve', dn: '1', reservationId: 'r', callId: 'c', owner: 'o', ttlMs: 1, orphanHoldMs: 5, wrapUpMs: 7 } }, 'given values win over defaults');
  t.match(validateCommand({ type: 'reserve', dn: '1', reservationId: 'r', callId: 'c', owner: 'o', ttlMs: 1, orphanHoldMs: -1 }), { ok: false, reason: /command\.orphanHoldMs must be an integer/ });
  t.match(validateCommand({ type: 'release', dn: 'x', extra: 1 }), { ok: false, reason: /unknown field "extra"/ }, 'an unknown field is named before a bad or missing one');
  t.match(validateCommand({ type: 'release', dn: 'x' }), { ok: false, reason: /command\.dn must be/ }, 'fields are checked in canonical order: dn before the missing reservationId');
  t.match(validateCommand({ type: 'release', dn: '1' }), { ok: false, reason: /command\.reservationId is missing/ });
  for (const type of ['constructor', '__proto__', 'toString', 'hasOwnProperty']) {
    t.match(validateCommand({ type }), { ok: false, reason: /command\.type must be one of/ }, `type ${type}`);
  }
  t.match(validateCommand({ type: 'tick', __proto__: { dn: '1' } }), { ok: true, command: { type: 'tick' } }, 'inherited fields are not fields');
});
