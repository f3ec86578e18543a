// Several "hosts" on one machine: each a Linux network namespace with one veth onto a
// private bridge, as root. The root namespace holds an address on the bridge too, so the
// launcher, load clients and SIPp reach every host; the hosts reach each other through the
// bridge. Partitions (partitions.ts) are iptables drops inside the hosts' namespaces.
//
//   root ns: <tag>-br = 10.213.<octet>.1/24 ─┬─ veth ─ h1 ns: 10.213.<octet>.11/24 (+ lo)
//                                              ├─ veth ─ h2 ns: 10.213.<octet>.12/24
//                                              └─ veth ─ h3 ns: 10.213.<octet>.13/24
//
// Names carry a tag made of this process's pid (base 36) and a counter (rfh<pid>_<n>), so two runs (two test files
// at once) never collide, and `cleanupLeftovers` can tell a live run's names from those of
// a killed one. Before it creates anything, a run writes what it will create to a state
// file under /run/ringfence-netns; the /24 octet is claimed there too (O_EXCL), so two runs
// never put the same subnet on the root namespace. Teardown kills whatever still runs in
// the namespaces (processes of this run), then removes the rules, links, bridge,
// namespaces and the state file, newest first; it is idempotent and also runs on exit.
import { execFileSync } from 'node:child_process';
import { closeSync, mkdirSync, openSync, readdirSync, readFileSync, readlinkSync, rmSync, statSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { UsageError } from '../common/args.js';

/** Where runs record what they create (tmpfs: gone after a reboot, as the links are). */
export const netnsStateDir = '/run/ringfence-netns';
/** The private /16 the labs take their /24s from; it exists only on the labs' links. */
export const netnsSubnetPrefix = '10.213';
/** Host i (1-based) is .10+i on its /24; the root namespace is .1. */
const hostOctetBase = 10;
export const netnsHostsMax = 8;
/** Every name this module makes starts with it (namespaces and links); `--cleanup` looks for it. */
export const netnsNamePrefix = 'rfh';

export type NetnsHost = Readonly<{
  /** h1, h2, …: what the cluster file's store/node ids and the partitions name. */
  name: string;
  /** The namespace (`ip netns exec <ns>`). */
  ns: string;
  /** The host's address on the bridge, reachable from the other hosts and the root ns. */
  ip: string;
}>;

export type NetnsLab = Readonly<{
  tag: string;
  /** The /24 of this run, e.g. 10.213.57.0/24. */
  subnet: string;
  /** The root namespace's address on the bridge (where the launcher's clients come from). */
  rootIp: string;
  bridge: string;
  hosts: readonly NetnsHost[];
  host: (name: string) => NetnsHost;
  /** The argv prefix that runs a command inside `host` (`ip netns exec <ns>`, which execs
   * the command in place: the pid spawn returns is the command's own). */
  execPrefix: (host: string) => string[];
  /** Pids of every process in the host's namespace. */
  pids: (host: string) => number[];
  /** Removes everything this run made (idempotent). */
  teardown: () => void;
}>;

type RunState = { pid: number; tag: string; octet: number; namespaces: string[]; links: string[] };

export class NetnsError extends Error {
  readonly code = 'NETNS_ERR';
}

/** Refuses to go on without what the labs need: root (CAP_NET_ADMIN and the right to
 * create namespaces), `ip` (iproute2) and `iptables`. A UsageError, so the CLI exits 2. */
export function requireNetnsTools(what = 'a network namespace lab'): void {
  if (process.getuid?.() !== 0) {
    throw new UsageError(`${what}: needs root (it creates network namespaces, veth pairs, a bridge and iptables rules: CAP_NET_ADMIN and CAP_SYS_ADMIN); run it as root, e.g. sudo -E npm run cluster -- --hosts 3`);
  }
  for (const [tool, pkg] of [['ip', 'iproute2'], ['iptables', 'iptables']] as const) {
    try {
      execFileSync(tool, ['-V'], { stdio: 'ignore' });
    } catch {
      throw new UsageError(`${what}: needs the ${tool} command (apt-get install -y ${pkg})`);
    }
  }
}

const run = (cmd: string, args: readonly string[]): string => {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    throw new NetnsError(`${cmd} ${args.join(' ')}: ${(e.stderr ?? '').trim() || e.message}`);
  }
};
export const ipCmd = (...args: string[]): string => run('ip', args);
const quiet = (f: () => unknown): void => {
  try {
    f();
  } catch {
    // already gone
  }
};

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** The /24s in use on this machine's root namespace (addresses and routes). */
function octetsInUse(): Set<number> {
  const used = new Set<number>();
  const text = `${run('ip', ['-4', '-o', 'addr'])}\n${run('ip', ['-4', 'route', 'show', 'table', 'all'])}`;
  const re = new RegExp(`\\b${netnsSubnetPrefix.replace('.', '\\.')}\\.(\\d+)\\.`, 'g');
  for (const m of text.matchAll(re)) used.add(Number(m[1]));
  return used;
}

/** Claims a free /24 octet for `tag`: a file created O_EXCL, taken over when its owner is dead. */
function claimOctet(tag: string): number {
  mkdirSync(netnsStateDir, { recursive: true });
  const used = octetsInUse();
  const start = (process.pid * 7) % 250;
  for (let i = 0; i < 250; i++) {
    const octet = ((start + i) % 250) + 1;
    if (used.has(octet)) continue;
    const path = join(netnsStateDir, `octet-${octet}`);
    for (let tries = 0; tries < 2; tries++) {
      try {
        const fd = openSync(path, 'wx');
        writeSync(fd, `${process.pid} ${tag}\n`);
        closeSync(fd);
        return octet;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
        const owner = Number(readFileSync(path, 'utf8').split(' ')[0]);
        if (Number.isInteger(owner) && owner > 0 && pidAlive(owner)) break;
        quiet(() => rmSync(path));
      }
    }
  }
  throw new NetnsError(`no free /24 left in ${netnsSubnetPrefix}.0.0/16 for a network namespace lab`);
}

let labSeq = 0;

/** Creates `hostCount` namespaces h1..hN on a fresh bridge. Undoes what it did if a step fails. */
export function createNetnsLab(hostCount: number): NetnsLab {
  requireNetnsTools();
  if (!(Number.isInteger(hostCount) && hostCount >= 1 && hostCount <= netnsHostsMax)) throw new UsageError(`--hosts: expected an integer in [1, ${netnsHostsMax}], got ${hostCount}`);
  const tag = `${netnsNamePrefix}${process.pid.toString(36)}_${(labSeq++).toString(36)}`;
  const octet = claimOctet(tag);
  const net = `${netnsSubnetPrefix}.${octet}`;
  const bridge = `${tag}-br`;
  const hosts: NetnsHost[] = Array.from({ length: hostCount }, (_, i) => ({ name: `h${i + 1}`, ns: `${tag}-h${i + 1}`, ip: `${net}.${hostOctetBase + i + 1}` }));
  const state: RunState = { pid: process.pid, tag, octet, namespaces: hosts.map((h) => h.ns), links: [bridge, ...hosts.map((h) => `${tag}-${h.name}`)] };
  const statePath = join(netnsStateDir, `${tag}.json`);
  writeFileSync(statePath, JSON.stringify(state));
  let tornDown = false;
  const teardown = (): void => {
    if (tornDown) return;
    tornDown = true;
    process.removeListener('exit', teardown);
    removeRun(state);
  };
  process.on('exit', teardown);
  try {
    ipCmd('link', 'add', bridge, 'type', 'bridge');
    ipCmd('addr', 'add', `${net}.1/24`, 'dev', bridge);
    ipCmd('link', 'set', bridge, 'up');
    for (const h of hosts) {
      const outer = `${tag}-${h.name}`;
      ipCmd('netns', 'add', h.ns);
      // The inner end is created inside the namespace, so its name never meets the root's.
      ipCmd('link', 'add', outer, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', h.ns);
      ipCmd('link', 'set', outer, 'master', bridge);
      ipCmd('link', 'set', outer, 'up');
      ipCmd('-n', h.ns, 'link', 'set', 'lo', 'up');
      ipCmd('-n', h.ns, 'addr', 'add', `${h.ip}/24`, 'dev', 'eth0');
      ipCmd('-n', h.ns, 'link', 'set', 'eth0', 'up');
      // The partitions' chain, jumped to first on input: healing flushes rules from it only.
      run('ip', ['netns', 'exec', h.ns, 'iptables', '-w', '5', '-N', partitionChain]);
      run('ip', ['netns', 'exec', h.ns, 'iptables', '-w', '5', '-I', 'INPUT', '1', '-j', partitionChain]);
    }
  } catch (err) {
    teardown();
    throw err;
  }
  const host = (name: string): NetnsHost => {
    const h = hosts.find((x) => x.name === name);
    if (!h) throw new NetnsError(`no host ${JSON.stringify(name)} in this lab (${hosts.map((x) => x.name).join(', ')})`);
    return h;
  };
  return {
    tag, subnet: `${net}.0/24`, rootIp: `${net}.1`, bridge, hosts, host, teardown,
    execPrefix: (name) => ['ip', 'netns', 'exec', host(name).ns],
    pids: (name) => nsPids(host(name).ns),
  };
}

/** The iptables chain each host's partition rules go into (INPUT jumps to it first). */
export const partitionChain = 'RF-PARTITION';

/** The processes in namespace `ns`, read from /proc as `ip netns pids` does, but
 * skipping a process that exits during the scan (`ip` gives up on the whole list then). */
function nsPids(ns: string): number[] {
  let inode: number;
  try {
    inode = statSync(join('/run/netns', ns)).ino;
  } catch {
    return [];
  }
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readlinkSync(`/proc/${entry}/ns/net`) === `net:[${inode}]`) pids.push(Number(entry));
    } catch {
      // gone meanwhile, or not ours to read
    }
  }
  return pids;
}

/** Kills what runs in the namespaces (a namespace outlives `ip netns del` while a process
 * is in it), then removes links and namespaces, then the state and octet claim files. */
function removeRun(state: RunState): void {
  for (const ns of state.namespaces) {
    for (const pid of nsPids(ns)) quiet(() => process.kill(pid, 'SIGKILL'));
  }
  // Deleting the outer end of a veth removes both ends; the bridge goes last.
  for (const link of [...state.links].reverse()) quiet(() => ipCmd('link', 'del', link));
  for (const ns of state.namespaces) quiet(() => ipCmd('netns', 'del', ns));
  quiet(() => rmSync(join(netnsStateDir, `${state.tag}.json`)));
  const claim = join(netnsStateDir, `octet-${state.octet}`);
  quiet(() => {
    if (readFileSync(claim, 'utf8').includes(state.tag)) rmSync(claim);
  });
}

/** Names of this module's namespaces and links that exist now (for teardown checks). */
export function netnsNamesPresent(tag: string): string[] {
  const found: string[] = [];
  for (const line of run('ip', ['netns', 'list']).split('\n')) {
    const name = line.split(' ')[0];
    if (name && name.startsWith(tag)) found.push(`netns ${name}`);
  }
  for (const line of run('ip', ['-o', 'link']).split('\n')) {
    const name = line.split(':')[1]?.trim().split('@')[0];
    if (name && name.startsWith(tag)) found.push(`link ${name}`);
  }
  return found;
}

/** Removes what runs whose process is gone left behind (`npm run cluster -- --cleanup`):
 * the runs in the state directory, and any namespace or link named like one whose tag's
 * pid is no longer alive. Returns what it removed. */
export function cleanupLeftovers(what = 'cleanup of network namespace labs'): string[] {
  requireNetnsTools(what);
  const removed: string[] = [];
  let files: string[] = [];
  try {
    files = readdirSync(netnsStateDir).filter((f) => f.endsWith('.json'));
  } catch {
    // no state directory: nothing recorded
  }
  for (const f of files) {
    let state: RunState;
    try {
      state = JSON.parse(readFileSync(join(netnsStateDir, f), 'utf8')) as RunState;
    } catch {
      quiet(() => rmSync(join(netnsStateDir, f)));
      continue;
    }
    if (pidAlive(state.pid)) continue;
    const present = netnsNamesPresent(state.tag);
    removeRun(state);
    removed.push(...present);
  }
  // Names without a state file (its run died between creating a name and writing the file
  // cannot happen, as the file comes first, but an operator may have deleted the directory).
  const tagRe = new RegExp(`^(${netnsNamePrefix}([0-9a-z]+)_[0-9a-z]+)-`);
  const orphans = new Map<string, RunState>();
  for (const entry of netnsNamesPresent(netnsNamePrefix)) {
    const name = entry.split(' ')[1]!;
    const m = tagRe.exec(name);
    if (!m) continue;
    const pid = parseInt(m[2]!, 36);
    if (pidAlive(pid)) continue;
    const s = orphans.get(m[1]!) ?? { pid, tag: m[1]!, octet: -1, namespaces: [], links: [] };
    (entry.startsWith('netns') ? s.namespaces : s.links).push(name);
    orphans.set(m[1]!, s);
  }
  for (const s of orphans.values()) {
    removed.push(...s.namespaces.map((n) => `netns ${n}`), ...s.links.map((l) => `link ${l}`));
    removeRun(s);
  }
  return removed;
}
