// Proves the four transaction state machines (RFC 3261 §17 with RFC 6026's Accepted
// state) do exactly what the RFC figures say, event by event, with no I/O: each script is
// a list of (event, expected actions, expected state) rows run against the pure core, in
// the data-driven style of etcd's interaction tests. Timer values use T1=500, T2=4000,
// T4=5000, D=32000, so every duration in a row is checkable against the RFC table.

import t from 'tap';
import type { SipRequest } from '../../../sip/syntax/message.js';
import { newTransaction, step } from '../../../sip/transaction/machine.js';
import { DEFAULT_TRANSACTION_LIMITS } from '../../../sip/transaction/limits.js';
import type { TxAction, TxEvent, TxKind, TxRecord } from '../../../sip/transaction/types.js';
import { makeRequest, makeResponse } from './fixtures.js';

type Row = readonly [event: string, actions: readonly string[], state: string];
type Script = Readonly<{ name: string; kind: TxKind; reliable: boolean; rows: readonly Row[] }>;

const cfg = DEFAULT_TRANSACTION_LIMITS;

function describeAction(a: TxAction): string {
  switch (a.type) {
    case 'send': {
      const what = a.message.kind === 'request' ? a.message.method : String(a.message.status);
      return `${a.retransmission ? 'resend' : 'send'} ${what}`;
    }
    case 'start-timer':
      return `start ${a.timer} ${a.delayMs}`;
    case 'stop-timer':
      return `stop ${a.timer}`;
    case 'absorbed':
      return 'absorbed';
    case 'notify': {
      const n = a.notice;
      if (n.type === 'provisional') return `notify provisional ${n.response.status}`;
      if (n.type === 'final') return `notify final ${n.response.status}${n.retransmission ? ' again' : ''}`;
      if (n.type === 'timeout') return `notify timeout ${n.timer}${n.response ? ` ${n.response.status}` : ''}`;
      if (n.type === 'transport-error') return `notify transport-error${n.response ? ` ${n.response.status}` : ''}`;
      return 'notify ack';
    }
  }
}

function eventFor(text: string, tx: TxRecord): TxEvent {
  const [verb, arg] = text.split(' ');
  switch (verb) {
    case 'start':
      return { type: 'start' };
    case 'timer':
      return { type: 'timer', timer: arg as never };
    case 'response':
      return { type: 'response', response: makeResponse(tx.request, Number(arg), 'X') };
    case 'tu':
      return { type: 'tu-response', response: makeResponse(tx.request, Number(arg), 'X') };
    case 'request':
      return { type: 'request', request: tx.request };
    case 'ack':
      return { type: 'request', request: { ...tx.request, method: 'ACK' } as SipRequest };
    case 'transport-error':
      return { type: 'transport-error', code: 'SIP_ERR_TRANSPORT_SEND_FAILED' };
  }
  throw new Error(`unknown event ${text}`);
}

const START_ICT: Row = ['start', ['send INVITE', 'start A 500', 'start B 32000'], 'calling'];
const START_NICT: Row = ['start', ['send OPTIONS', 'start E 500', 'start F 32000'], 'trying'];
const START_IST: Row = ['start', ['start Trying100 200'], 'proceeding'];

const scripts: readonly Script[] = [
  {
    name: 'INVITE client: A doubles with no cap until B gives the TU a 408',
    kind: 'invite-client',
    reliable: false,
    rows: [
      START_ICT,
      ['timer A', ['resend INVITE', 'start A 1000'], 'calling'],
      ['timer A', ['resend INVITE', 'start A 2000'], 'calling'],
      ['timer A', ['resend INVITE', 'start A 4000'], 'calling'],
      ['timer A', ['resend INVITE', 'start A 8000'], 'calling'],
      ['timer A', ['resend INVITE', 'start A 16000'], 'calling'],
      ['timer B', ['stop A', 'notify timeout B 408'], 'terminated'],
    ],
  },
  {
    name: 'INVITE client: 180 then 486 → ACK sent by the transaction, D absorbs retransmissions',
    kind: 'invite-client',
    reliable: false,
    rows: [
      START_ICT,
      ['response 180', ['stop A', 'stop B', 'start C 181000', 'notify provisional 180'], 'proceeding'],
      ['response 183', ['stop A', 'stop B', 'start C 181000', 'notify provisional 183'], 'proceeding'],
      ['response 486', ['stop A', 'stop B', 'stop C', 'send ACK', 'notify final 486', 'start D 32000'], 'completed'],
      ['response 486', ['resend ACK'], 'completed'],
      ['timer D', [], 'terminated'],
    ],
  },
  {
    name: 'INVITE client: 2xx → Accepted (RFC 6026), 2xx retransmissions go to the TU, M ends it',
    kind: 'invite-client',
    reliable: false,
    rows: [
      START_ICT,
      ['response 200', ['stop A', 'stop B', 'stop C', 'start M 32000', 'notify final 200'], 'accepted'],
      ['response 200', ['notify final 200 again'], 'accepted'],
      ['timer M', [], 'terminated'],
    ],
  },
  {
    name: 'INVITE client: timer C bounds Proceeding (our addition), restarted by each provisional',
    kind: 'invite-client',
    reliable: false,
    rows: [
      START_ICT,
      ['response 180', ['stop A', 'stop B', 'start C 181000', 'notify provisional 180'], 'proceeding'],
      ['timer B', [], 'proceeding'],
      ['timer C', ['notify timeout C 408'], 'terminated'],
    ],
  },
  {
    name: 'INVITE client over a reliable transport: no A, D is zero',
    kind: 'invite-client',
    reliable: true,
    rows: [
      ['start', ['send INVITE', 'start B 32000'], 'calling'],
      ['response 603', ['stop A', 'stop B', 'stop C', 'send ACK', 'notify final 603'], 'terminated'],
    ],
  },
  {
    name: 'INVITE client: transport error → TU gets a 503',
    kind: 'invite-client',
    reliable: false,
    rows: [START_ICT, ['transport-error', ['stop A', 'stop B', 'stop C', 'notify transport-error 503'], 'terminated']],
  },
  {
    name: 'non-INVITE client: E doubles to T2, then stays at T2 in Proceeding; K absorbs',
    kind: 'non-invite-client',
    reliable: false,
    rows: [
      START_NICT,
      ['timer E', ['resend OPTIONS', 'start E 1000'], 'trying'],
      ['timer E', ['resend OPTIONS', 'start E 2000'], 'trying'],
      ['timer E', ['resend OPTIONS', 'start E 4000'], 'trying'],
      ['timer E', ['resend OPTIONS', 'start E 4000'], 'trying'],
      ['response 100', ['notify provisional 100'], 'proceeding'],
      ['timer E', ['resend OPTIONS', 'start E 4000'], 'proceeding'],
      ['response 200', ['stop E', 'stop F', 'notify final 200', 'start K 5000'], 'completed'],
      ['response 200', ['absorbed'], 'completed'],
      ['timer K', [], 'terminated'],
    ],
  },
  {
    name: 'non-INVITE client: F gives the TU a 408',
    kind: 'non-invite-client',
    reliable: false,
    rows: [START_NICT, ['timer E', ['resend OPTIONS', 'start E 1000'], 'trying'], ['timer F', ['stop E', 'notify timeout F 408'], 'terminated']],
  },
  {
    name: 'non-INVITE client over a reliable transport: no E, K is zero',
    kind: 'non-invite-client',
    reliable: true,
    rows: [
      ['start', ['send OPTIONS', 'start F 32000'], 'trying'],
      ['response 200', ['stop E', 'stop F', 'notify final 200'], 'terminated'],
    ],
  },
  {
    name: 'INVITE server: 100 Trying after 200 ms, retransmissions answered, G to T2, ACK → Confirmed, I',
    kind: 'invite-server',
    reliable: false,
    rows: [
      START_IST,
      ['timer Trying100', ['send 100'], 'proceeding'],
      ['request', ['resend 100'], 'proceeding'],
      ['tu 180', ['stop Trying100', 'send 180'], 'proceeding'],
      ['request', ['resend 180'], 'proceeding'],
      ['tu 486', ['stop Trying100', 'send 486', 'start G 500', 'start H 32000'], 'completed'],
      ['timer G', ['resend 486', 'start G 1000'], 'completed'],
      ['request', ['resend 486'], 'completed'],
      ['timer G', ['resend 486', 'start G 2000'], 'completed'],
      ['timer G', ['resend 486', 'start G 4000'], 'completed'],
      ['timer G', ['resend 486', 'start G 4000'], 'completed'],
      ['ack', ['stop G', 'stop H', 'start I 5000'], 'confirmed'],
      ['ack', ['absorbed'], 'confirmed'],
      ['request', ['absorbed'], 'confirmed'],
      ['timer I', [], 'terminated'],
    ],
  },
  {
    name: 'INVITE server: TU answers before 200 ms, so no 100 Trying; H fires without an ACK',
    kind: 'invite-server',
    reliable: false,
    rows: [
      START_IST,
      ['tu 180', ['stop Trying100', 'send 180'], 'proceeding'],
      ['timer Trying100', [], 'proceeding'],
      ['tu 500', ['stop Trying100', 'send 500', 'start G 500', 'start H 32000'], 'completed'],
      ['timer H', ['stop G', 'notify timeout H'], 'terminated'],
    ],
  },
  {
    name: 'INVITE server: 2xx → Accepted (RFC 6026): INVITE absorbed, TU 2xx resent, ACK to TU, L ends it',
    kind: 'invite-server',
    reliable: false,
    rows: [
      START_IST,
      ['tu 200', ['stop Trying100', 'send 200', 'start L 32000'], 'accepted'],
      ['request', ['absorbed'], 'accepted'],
      ['tu 200', ['resend 200'], 'accepted'],
      ['ack', ['notify ack'], 'accepted'],
      ['timer L', [], 'terminated'],
    ],
  },
  {
    name: 'INVITE server over a reliable transport: no G, I is zero',
    kind: 'invite-server',
    reliable: true,
    rows: [START_IST, ['tu 486', ['stop Trying100', 'send 486', 'start H 32000'], 'completed'], ['ack', ['stop G', 'stop H'], 'terminated']],
  },
  {
    name: 'non-INVITE server: retransmissions absorbed, then answered with the last response; J',
    kind: 'non-invite-server',
    reliable: false,
    rows: [
      ['request', ['absorbed'], 'trying'],
      ['tu 180', ['send 180'], 'proceeding'],
      ['request', ['resend 180'], 'proceeding'],
      ['tu 200', ['send 200', 'start J 32000'], 'completed'],
      ['request', ['resend 200'], 'completed'],
      ['tu 500', [], 'completed'],
      ['timer J', [], 'terminated'],
    ],
  },
  {
    name: 'non-INVITE server over a reliable transport: J is zero',
    kind: 'non-invite-server',
    reliable: true,
    rows: [['tu 200', ['send 200'], 'terminated']],
  },
  {
    name: 'non-INVITE server: transport error ends it',
    kind: 'non-invite-server',
    reliable: false,
    rows: [['transport-error', ['stop J', 'notify transport-error'], 'terminated']],
  },
];

for (const script of scripts) {
  t.test(script.name, async (t) => {
    const method = script.kind.startsWith('invite') ? 'INVITE' : 'OPTIONS';
    const tx = newTransaction(script.kind, makeRequest({ method }), script.reliable);
    for (const [i, [event, expected, state]] of script.rows.entries()) {
      const { actions } = step(tx, eventFor(event, tx), cfg);
      t.same(actions.map(describeAction), expected, `row ${i} "${event}": actions`);
      t.equal(tx.state, state, `row ${i} "${event}": state`);
    }
  });
}

t.test('the ACK for a non-2xx carries the INVITE top Via, the response To tag and CSeq ACK', async (t) => {
  const invite = makeRequest({ method: 'INVITE', cseq: 7, extra: [{ name: 'Route', value: '<sip:proxy.example.com;lr>' }] });
  const tx = newTransaction('invite-client', invite, false);
  step(tx, { type: 'start' }, cfg);
  const { actions } = step(tx, { type: 'response', response: makeResponse(invite, 486, 'Busy Here', 'zz9') }, cfg);
  const sent = actions.find((a) => a.type === 'send');
  t.ok(sent && sent.type === 'send' && sent.message.kind === 'request');
  const ack = (sent as { message: SipRequest }).message;
  const get = (n: string): string | undefined => ack.headers.find((h) => h.name === n)?.value;
  t.equal(ack.method, 'ACK');
  t.equal(ack.uri, invite.uri);
  t.equal(get('Via'), invite.headers[0]!.value);
  t.equal(ack.headers.filter((h) => h.name === 'Via').length, 1);
  t.match(get('To') ?? '', /;tag=zz9$/);
  t.equal(get('CSeq'), '7 ACK');
  t.equal(get('Route'), '<sip:proxy.example.com;lr>');
});
