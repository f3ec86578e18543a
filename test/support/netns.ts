// A NAT lab for tests that run as root: a phone in its own network namespace behind a
// NAT router namespace that masquerades it (iptables MASQUERADE), and a "public" link from
// the router to the root namespace, where the system under test listens on its end.
//
//   root ns: <link>r0 = serverIp/24 ──veth── <link>r1 = routerIp/24 : router ns (NAT)
//   router ns: <link>n1 = privateNet.1/24 ──veth── <link>p0 = phoneIp (.2) : phone ns
//
// All addresses are private and exist only on these veths: nothing touches the host's
// real interfaces. The root ns gets an `unreachable` route for the phone's private net, so
// a packet sent to the phone's private address fails at once (EHOSTUNREACH) instead of
// leaving by the default route. Names carry the process id so parallel runs never
// collide. teardown() removes the iptables rule, the route, the links and both
// namespaces, and is idempotent; create() undoes what it did when any step fails.

import { execFileSync } from 'node:child_process';

export type NatLab = Readonly<{
  phoneNs: string;
  routerNs: string;
  /** Where the system under test binds in the root ns. */
  serverIp: string;
  /** The router's public address: what the server sees as the phone's source. */
  routerIp: string;
  /** The phone's private address (unreachable from the root ns). */
  phoneIp: string;
  privateNet: string;
  /** `ip netns exec <phoneNs>` + argv, for spawn. */
  inPhone: (argv: readonly string[]) => { command: string; args: string[] };
  teardown: () => void;
}>;

const ip = (...args: string[]): void => { execFileSync('ip', args, { stdio: ['ignore', 'ignore', 'pipe'] }); };

export const isRoot = (): boolean => process.getuid?.() === 0;

export function createNatLab(): NatLab {
  const id = String(process.pid % 100_000);
  const octet = (process.pid % 200) + 20;
  const phoneNs = `rf-phone-${id}`;
  const routerNs = `rf-nat-${id}`;
  const link = `rfn${id}`;
  const serverIp = `172.31.${octet}.1`;
  const routerIp = `172.31.${octet}.2`;
  const privateNet = `10.77.${octet}.0/24`;
  const phoneIp = `10.77.${octet}.2`;
  const masquerade = ['-t', 'nat', '-A', 'POSTROUTING', '-s', privateNet, '-o', `${link}r1`, '-j', 'MASQUERADE'];
  const steps: (() => void)[] = [];
  const undo: (() => void)[] = [];
  const quiet = (f: () => void): void => { try { f(); } catch { /* already gone */ } };
  steps.push(() => { ip('netns', 'add', routerNs); undo.push(() => ip('netns', 'del', routerNs)); });
  steps.push(() => { ip('netns', 'add', phoneNs); undo.push(() => ip('netns', 'del', phoneNs)); });
  steps.push(() => {
    ip('link', 'add', `${link}r0`, 'type', 'veth', 'peer', 'name', `${link}r1`, 'netns', routerNs);
    undo.push(() => ip('link', 'del', `${link}r0`));
    ip('addr', 'add', `${serverIp}/24`, 'dev', `${link}r0`);
    ip('link', 'set', `${link}r0`, 'up');
    ip('-n', routerNs, 'addr', 'add', `${routerIp}/24`, 'dev', `${link}r1`);
    ip('-n', routerNs, 'link', 'set', `${link}r1`, 'up');
    ip('-n', routerNs, 'link', 'set', 'lo', 'up');
  });
  steps.push(() => {
    ip('-n', routerNs, 'link', 'add', `${link}n1`, 'type', 'veth', 'peer', 'name', `${link}p0`, 'netns', phoneNs);
    ip('-n', routerNs, 'addr', 'add', `10.77.${octet}.1/24`, 'dev', `${link}n1`);
    ip('-n', routerNs, 'link', 'set', `${link}n1`, 'up');
    ip('-n', phoneNs, 'addr', 'add', `${phoneIp}/24`, 'dev', `${link}p0`);
    ip('-n', phoneNs, 'link', 'set', `${link}p0`, 'up');
    ip('-n', phoneNs, 'link', 'set', 'lo', 'up');
    ip('-n', phoneNs, 'route', 'add', 'default', 'via', `10.77.${octet}.1`);
  });
  steps.push(() => {
    execFileSync('ip', ['netns', 'exec', routerNs, 'sysctl', '-q', '-w', 'net.ipv4.ip_forward=1'], { stdio: 'ignore' });
    execFileSync('ip', ['netns', 'exec', routerNs, 'iptables', ...masquerade], { stdio: ['ignore', 'ignore', 'pipe'] });
    undo.push(() => execFileSync('ip', ['netns', 'exec', routerNs, 'iptables', ...masquerade.map((a) => (a === '-A' ? '-D' : a))], { stdio: 'ignore' }));
  });
  steps.push(() => { ip('route', 'add', 'unreachable', privateNet); undo.push(() => ip('route', 'del', 'unreachable', privateNet)); });
  let tornDown = false;
  const teardown = (): void => {
    if (tornDown) return;
    tornDown = true;
    // Newest first: the rule before its namespace, the links before theirs.
    for (const f of undo.reverse()) quiet(f);
  };
  try {
    for (const step of steps) step();
  } catch (err) {
    teardown();
    throw err;
  }
  return {
    phoneNs, routerNs, serverIp, routerIp, phoneIp, privateNet, teardown,
    inPhone: (argv) => ({ command: 'ip', args: ['netns', 'exec', phoneNs, ...argv] }),
  };
}

/** True when anything named like a lab of this process is left (for teardown checks). */
export function labLeftovers(lab: NatLab): string[] {
  const left: string[] = [];
  const netns = execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' });
  for (const ns of [lab.phoneNs, lab.routerNs]) if (netns.includes(ns)) left.push(`netns ${ns}`);
  const routes = execFileSync('ip', ['route', 'show', 'type', 'unreachable'], { encoding: 'utf8' });
  if (routes.includes(lab.privateNet.replace('/24', ''))) left.push(`route ${lab.privateNet}`);
  const links = execFileSync('ip', ['-br', 'link'], { encoding: 'utf8' });
  if (links.includes(`rfn${String(process.pid % 100_000)}`)) left.push('veth');
  return left;
}
