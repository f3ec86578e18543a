// Proves the SIP node's request dispatch table without sockets: REGISTER goes to the
// registrar; INVITE and CANCEL to the B2BUA (with a To tag or without); OPTIONS, BYE, INFO
// and the rest inside a dialog (a To tag) to the B2BUA's in-dialog handler; out of a
// dialog OPTIONS is answered 200 with Allow and Accept, BYE 481 and anything else 405
// with Allow; ACKs go to the B2BUA (dropped before it is attached); and attaching a
// second B2BUA, or a B2BUA request before one is attached, is a bug (assertion).
// Fakes record which handler got which request and what the dispatch itself answered.

import t from 'tap';
import { getHeader } from '../../../sip/syntax/index.js';
import type { SipRequest, SipResponse } from '../../../sip/syntax/index.js';
import type { ServerTransaction } from '../../../sip/transaction/index.js';
import { SipNodeDispatch, nodeAllow, type DispatchB2bua } from '../../../sip/node/dispatch.js';

function request(method: string, toTag?: string): SipRequest {
  const headers = [
    { name: 'Via', value: 'SIP/2.0/UDP 127.0.0.1:5099;branch=z9hG4bK-test' },
    { name: 'From', value: '<sip:caller@example.test>;tag=f1' },
    { name: 'To', value: `<sip:100@example.test>${toTag === undefined ? '' : `;tag=${toTag}`}` },
    { name: 'Call-ID', value: `call-${method}` },
    { name: 'CSeq', value: `1 ${method}` },
  ];
  return { kind: 'request', method, uri: 'sip:100@example.test', headers, body: new Uint8Array(0) };
}

type Fixture = { dispatch: SipNodeDispatch; got: string[]; answers: SipResponse[]; tx: ServerTransaction };

function fixture(attach = true): Fixture {
  const got: string[] = [];
  const answers: SipResponse[] = [];
  const registrar = { handle: (_tx: ServerTransaction, req: SipRequest) => void got.push(`registrar ${req.method}`) };
  const b2bua: DispatchB2bua = {
    onInvite: (_tx, req) => void got.push(`invite ${req.method}`),
    onCancel: (_tx, req) => void got.push(`cancel ${req.method}`),
    onInDialog: (_tx, req) => void got.push(`in-dialog ${req.method}`),
    onAck: (ack) => void got.push(`ack ${ack.method}`),
  };
  const dispatch = new SipNodeDispatch(registrar);
  if (attach) dispatch.attach(b2bua);
  const tx = {
    id: 'tx1', request: request('X'), source: { protocol: 'UDP', host: '127.0.0.1', port: 5099 },
    state: () => 'Trying', respond: (r: SipResponse) => (answers.push(r), true),
  } as unknown as ServerTransaction;
  return { dispatch, got, answers, tx };
}

t.test('which handler takes which request', async (t) => {
  const cases: [method: string, toTag: string | undefined, handler: string][] = [
    ['REGISTER', undefined, 'registrar REGISTER'],
    ['INVITE', undefined, 'invite INVITE'],
    ['INVITE', 'b2', 'invite INVITE'], // a re-INVITE: onInvite passes it to onInDialog itself
    ['CANCEL', undefined, 'cancel CANCEL'],
    ['OPTIONS', 'b2', 'in-dialog OPTIONS'],
    ['BYE', 'b2', 'in-dialog BYE'],
    ['INFO', 'b2', 'in-dialog INFO'],
    ['UPDATE', 'b2', 'in-dialog UPDATE'],
    ['MESSAGE', 'b2', 'in-dialog MESSAGE'],
  ];
  for (const [method, toTag, handler] of cases) {
    const f = fixture();
    f.dispatch.onRequest(f.tx, request(method, toTag));
    t.same(f.got, [handler], `${method}${toTag === undefined ? '' : ' in a dialog'} → ${handler}`);
    t.same(f.answers, [], `${method}: the dispatch itself answers nothing`);
  }
});

t.test('out of a dialog the dispatch answers OPTIONS 200, BYE 481, the rest 405', async (t) => {
  const expect: [method: string, status: number, reason: string][] = [
    ['OPTIONS', 200, 'OK'],
    ['BYE', 481, 'Call/Transaction Does Not Exist'],
    ['INFO', 405, 'Method Not Allowed'],
    ['MESSAGE', 405, 'Method Not Allowed'],
    ['SUBSCRIBE', 405, 'Method Not Allowed'],
  ];
  for (const [method, status, reason] of expect) {
    const f = fixture();
    f.dispatch.onRequest(f.tx, request(method));
    t.same(f.got, [], `${method}: no handler`);
    t.equal(f.answers.length, 1, `${method}: one answer`);
    const res = f.answers[0]!;
    t.equal(res.status, status, `${method} → ${status}`);
    t.equal(res.reason, reason);
    t.equal(getHeader(res, 'Allow'), nodeAllow, `${method}: Allow lists what the node takes`);
    t.equal(getHeader(res, 'Accept'), method === 'OPTIONS' ? 'application/sdp' : undefined, `${method}: Accept only on OPTIONS`);
    t.equal(getHeader(res, 'Call-ID'), `call-${method}`, 'answers the request it got');
  }
  t.equal(nodeAllow, 'INVITE, ACK, CANCEL, BYE, OPTIONS, INFO, UPDATE, REGISTER', 'the Allow the node has always sent');
});

t.test('ACKs go to the B2BUA; before it is attached they are dropped', async (t) => {
  const f = fixture();
  f.dispatch.onAck(request('ACK', 'b2'));
  t.same(f.got, ['ack ACK']);
  const early = fixture(false);
  early.dispatch.onAck(request('ACK', 'b2'));
  t.same(early.got, [], 'no B2BUA yet: nothing to give it to');
  early.dispatch.onRequest(early.tx, request('REGISTER'));
  t.same(early.got, ['registrar REGISTER'], 'REGISTER needs no B2BUA');
  early.dispatch.onRequest(early.tx, request('OPTIONS'));
  t.equal(early.answers[0]?.status, 200, 'nor does an OPTIONS out of a dialog');
});

t.test('wiring bugs are assertions', async (t) => {
  const f = fixture();
  t.throws(() => f.dispatch.attach({ onInvite() {}, onCancel() {}, onInDialog() {}, onAck() {} }), { code: 'ERR_ASSERTION' }, 'a second B2BUA');
  const early = fixture(false);
  t.throws(() => early.dispatch.onRequest(early.tx, request('INVITE')), { code: 'ERR_ASSERTION' }, 'an INVITE before the B2BUA');
});
