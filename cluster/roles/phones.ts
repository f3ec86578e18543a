// `ringfence phones`: a set of real SIP agent phones for demos, tests and benchmarks. Each
// phone registers its DN with digest auth at a SIP node of the cluster, answers (or
// refuses, or lets ring) the calls it is offered, echoes RTP, and records every INVITE.
// Prints {"event":"ready","role":"phones","registered":N,...} once every phone is bound;
// on SIGUSR2 and at shutdown it prints a {"event":"status"} line with its counters,
// including doubleOffers (INVITEs that found the phone already on a call) and dialogsLost
// (answered calls ended because in-dialog OPTIONS found their SIP node gone).

import { announce, intFlag, onShutdown, parseFlags, requireFlag, UsageError } from '../../common/args.js';
import { loadClusterConfig } from '../../common/config.js';
import { createLogger } from '../../common/logger.js';
import type { SipTarget } from '../../sip/transport/index.js';
import { parseBehaviours, parseDnList } from '../../sip/phones/phone-spec.js';
import { registerExpiresSDefault, registerExpiresSMax, registerExpiresSMin, answerAfterMsDefault, answerAfterMsMax, dialogProbeMsDefault, dialogProbeMsMax } from '../../sip/phones/limits.js';
import { PhonesUa } from '../../sip/phones/ua.js';

export const flags = {
  config: { type: 'string', help: 'cluster file (YAML)' },
  id: { type: 'string', help: 'this process id (for logs)' },
  dns: { type: 'string', help: 'DNs to play: ranges and numbers, e.g. 1001-1020,1050', default: '1001-1020' },
  'password-prefix': { type: 'string', help: 'each phone\'s password is <prefix><dn>', default: 'pw-' },
  password: { type: 'string', help: 'one password for every phone (overrides --password-prefix)' },
  'answer-after-ms': { type: 'string', help: 'ring time before 200 OK', default: String(answerAfterMsDefault) },
  behaviour: { type: 'string', help: 'answer|busy|no-answer, with per-DN overrides: answer,busy:1031-1035,no-answer:1036-1040', default: 'answer' },
  record: { type: 'string', help: 'append every INVITE and call end to this JSONL file' },
  sip: { type: 'string', help: 'SIP node ids to register with, comma-separated (default: all, phones spread round-robin)' },
  'expires-s': { type: 'string', help: 'binding lifetime asked for', default: String(registerExpiresSDefault) },
  digest: { type: 'string', help: 'preferred digest algorithm: SHA-256 or MD5', default: 'SHA-256' },
  host: { type: 'string', help: 'local address for SIP and RTP', default: '127.0.0.1' },
  port: { type: 'string', help: 'local SIP port (0 = any free port)', default: '0' },
  'dialog-probe-ms': { type: 'string', help: 'in-dialog OPTIONS interval on answered calls; a 481 or no answer ends the call (0 = off)', default: String(dialogProbeMsDefault) },
} as const;

export async function main(argv: string[]): Promise<void> {
  const f = parseFlags(argv, flags, 'ringfence phones --config cluster.yaml --id phones1 [flags]');
  const config = loadClusterConfig(requireFlag(f.config, 'config'));
  const id = f.id ?? 'phones';
  const log = createLogger({ role: 'phones', id });
  const dns = parseDnList(f.dns ?? '1001-1020');
  const behaviours = parseBehaviours(f.behaviour ?? 'answer', dns);
  const prefer = (f.digest ?? 'SHA-256').toUpperCase();
  if (prefer !== 'SHA-256' && prefer !== 'MD5') throw new UsageError('--digest must be SHA-256 or MD5');
  const wanted = f.sip === undefined ? null : new Set(f.sip.split(',').map((s) => s.trim()));
  const nodes = config.sip.filter((n) => wanted === null || wanted.has(n.id));
  if (nodes.length === 0) throw new UsageError(wanted === null ? 'the cluster file lists no SIP nodes' : `no SIP node ${f.sip} in the cluster file`);
  const ua = await PhonesUa.start({
    host: f.host ?? '127.0.0.1',
    port: intFlag(f.port, 'port', 0, 65535, 0),
    answerAfterMs: intFlag(f['answer-after-ms'], 'answer-after-ms', 0, answerAfterMsMax, answerAfterMsDefault),
    expiresS: intFlag(f['expires-s'], 'expires-s', registerExpiresSMin, registerExpiresSMax, registerExpiresSDefault),
    prefer,
    dialogProbeMs: intFlag(f['dialog-probe-ms'], 'dialog-probe-ms', 0, dialogProbeMsMax, dialogProbeMsDefault),
    ...(f.record !== undefined ? { recordPath: f.record } : {}),
    phones: dns.map((dn, i) => {
      const node = nodes[i % nodes.length]!;
      const registrar: SipTarget = { protocol: 'UDP', host: node.udp.host, port: node.udp.port };
      return { dn, behaviour: behaviours.get(dn)!, password: f.password ?? `${f['password-prefix'] ?? 'pw-'}${dn}`, registrar, domain: `${node.udp.host}:${node.udp.port}` };
    }),
    onError: (dn, err) => log.warn(err.message, { dn, code: err.code }),
  });
  const statusLine = (): void => announce({ event: 'status', role: 'phones', id, ...ua.status() });
  process.on('SIGUSR2', statusLine);
  onShutdown(async () => {
    await ua.stop({ unregister: false });
    statusLine();
  });
  await ua.allRegistered();
  announce({ event: 'ready', role: 'phones', id, registered: ua.registeredCount(), sipPort: ua.port, pid: process.pid });
}
