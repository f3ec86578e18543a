// Waiting helpers for real-socket tests: bounded in time so a broken transport fails the
// test instead of hanging it.

import type { InboundMessage, SipTransport } from '../../../sip/transport/transport.js';

/** Collects every message a transport hands up. */
export function collect(transport: SipTransport): InboundMessage[] {
  const got: InboundMessage[] = [];
  transport.onMessage((m) => got.push(m));
  return got;
}

export async function waitUntil(what: string, cond: () => boolean, limitMs = 5000): Promise<void> {
  const deadline = Date.now() + limitMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}
