// SipMessage → bytes (RFC 3261 §7). Content-Length always states the body's real size
// (§18.3 makes it mandatory on streams), replacing whatever the message carried, in
// place. A header name or value that could break framing (CR or LF; a non-token
// name) is a bug in the caller and trips an assertion instead of reaching the wire.

import assert from 'node:assert/strict';
import type { SipMessage } from './message.js';
import { isToken } from './chars.js';
import { headerKey } from './headers.js';

function checkField(name: string, value: string): void {
  assert.ok(isToken(name), `header name is not a token: ${JSON.stringify(name)}`);
  assert.ok(!/[\r\n]/.test(value), `header ${name} value contains CR or LF`);
}

export function serializeMessage(m: SipMessage): Buffer {
  let head: string;
  if (m.kind === 'request') {
    assert.ok(isToken(m.method), 'method is not a token');
    assert.ok(m.uri.length > 0 && !/[\s]/.test(m.uri), 'Request-URI empty or has whitespace');
    head = `${m.method} ${m.uri} SIP/2.0\r\n`;
  } else {
    assert.ok(Number.isInteger(m.status) && m.status >= 100 && m.status <= 699, 'status out of range');
    assert.ok(!/[\r\n]/.test(m.reason), 'reason phrase contains CR or LF');
    head = `SIP/2.0 ${m.status} ${m.reason}\r\n`;
  }
  const length = `Content-Length: ${m.body.length}\r\n`;
  let placed = false;
  for (const h of m.headers) {
    checkField(h.name, h.value);
    if (headerKey(h.name) === 'content-length') {
      if (!placed) head += length;
      placed = true;
      continue;
    }
    head += `${h.name}: ${h.value}\r\n`;
  }
  if (!placed) head += length;
  head += '\r\n';
  const headBytes = Buffer.from(head, 'utf8');
  if (m.body.length === 0) return headBytes;
  return Buffer.concat([headBytes, m.body]);
}
