// Dispatch for the four transaction state machines: look up the handler for (kind,
// state, event) in its table and run it. Pure: returns the actions for the shell to carry
// out. An event with no handler in the current state is ignored (handled: false).

import assert from 'node:assert';
import type { SipRequest } from '../syntax/message.js';
import { INVITE_CLIENT_TABLE } from './invite-client.js';
import { INVITE_SERVER_TABLE } from './invite-server.js';
import { NON_INVITE_CLIENT_TABLE } from './non-invite-client.js';
import { NON_INVITE_SERVER_TABLE } from './non-invite-server.js';
import type { Handler, StateTable, TxAction, TxConfig, TxEvent, TxKind, TxRecord, TxState } from './types.js';

const TABLES: Readonly<Record<TxKind, StateTable>> = {
  'invite-client': INVITE_CLIENT_TABLE,
  'non-invite-client': NON_INVITE_CLIENT_TABLE,
  'invite-server': INVITE_SERVER_TABLE,
  'non-invite-server': NON_INVITE_SERVER_TABLE,
};

const INITIAL_STATE: Readonly<Record<TxKind, TxState>> = {
  'invite-client': 'calling',
  'non-invite-client': 'trying',
  'invite-server': 'proceeding',
  'non-invite-server': 'trying',
};

export function kindFor(request: SipRequest, side: 'client' | 'server'): TxKind {
  assert(request.method !== 'ACK', 'ACK never creates a transaction');
  const invite = request.method === 'INVITE';
  return side === 'client' ? (invite ? 'invite-client' : 'non-invite-client') : invite ? 'invite-server' : 'non-invite-server';
}

export function newTransaction(kind: TxKind, request: SipRequest, reliable: boolean): TxRecord {
  return { kind, state: INITIAL_STATE[kind], request, lastResponse: undefined, ack: undefined, intervalMs: 0, reliable };
}

export type StepResult = Readonly<{ actions: readonly TxAction[]; handled: boolean }>;

export function step(tx: TxRecord, event: TxEvent, cfg: TxConfig): StepResult {
  if (tx.state === 'terminated' && event.type !== 'timer') assert.fail(`event ${event.type} on a terminated transaction`);
  const handler = TABLES[tx.kind][tx.state]?.[event.type] as Handler | undefined;
  if (handler === undefined) return { actions: [], handled: false };
  const out: TxAction[] = [];
  handler(tx, event, cfg, out);
  return { actions: out, handled: true };
}
