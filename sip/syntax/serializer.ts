// SipMessage → bytes (RFC 3261 §7). Content-Length always states the body's real size
// (§18.3 makes it mandatory on streams), replacing whatever the message carried, in
// place. A header name or value that could break framing (CR or LF; a non-token
// name) is a bug in the caller and trips an assertion instead of reaching the wire.

import assert from 'node:assert/strict';
import type { SipMessage } from './message.js';
import { isToken } from './chars.js';
import { headerInfo, type HeaderInfo } from './headers.js';

function checkField(name: string, value: string, info: HeaderInfo): void {
  // One name lookup gives both the token check and the key; indexOf beats a regex. The
  // messages are built only on failure: as assert.ok arguments they were formatted for
  // every header of every message sent (about 40% of what serializing allocated).
  if (!info.token) assert.fail(`header name is not a token: ${JSON.stringify(name)}`);
  if (value.indexOf('\r') >= 0 || value.indexOf('\n') >= 0) assert.fail(`header ${name} value contains CR or LF`);
}

export function serializeMessage(m: SipMessage): Buffer {
  let head: string;
  if (m.kind === 'request') {
    assert.ok(isToken(m.method), 'method is not a token');
    assert.ok(m.uri.length > 0 && !/[\s]/.test(m.uri), 'Request-URI empty or has whitespace');
    head = `${m.method} ${m.uri} SIP/2.0\r\n`;
  } else {
    assert.ok(Number.isInteger(m.status) && m.status >= 100 && m.status <= 699, 'status out of range');
    assert.ok(m.reason.indexOf('\r') < 0 && m.reason.indexOf('\n') < 0, 'reason phrase contains CR or LF');
    head = `SIP/2.0 ${m.status} ${m.reason}\r\n`;
  }
  const length = `Content-Length: ${m.body.length}\r\n`;
  let placed = false;
  for (const h of m.headers) {
    const info = headerInfo(h.name);
    checkField(h.name, h.value, info);
    if (info.key === 'content-length') {
      if (!placed) head += length;
      placed = true;
      continue;
    }
    head += h.name + ': ' + h.value + '\r\n';
  }
  if (!placed) head += length;
  head += '\r\n';
  // One allocation for head and body instead of a head buffer plus a concat.
  const headBytes = Buffer.byteLength(head, 'utf8');
  const out = Buffer.allocUnsafe(headBytes + m.body.length);
  out.write(head, 0, 'utf8');
  if (m.body.length > 0) out.set(m.body, headBytes);
  return out;
}
