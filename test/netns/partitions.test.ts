// Proves the three-host lab and its partition nemeses (cluster/netns.ts,
// cluster/netns-partitions.ts) on real namespaces, veths, a bridge and iptables: a TCP
// server in h1 is reachable from h2, h3 and the root namespace; isolate(h1) cuts it off
// from h2 and h3 (the root namespace still reaches it), heal() brings it back; one-way
// h1 -> h2 loses h1's datagrams at h2 (its DROP rule counts them) while h2's reach h1;
// a bridge cuts h1 and h3 from each other while both still reach h2. The pid spawn gives
// for a process started through the lab is the process's own (SIGKILL by pid reaches it).
// Afterwards no namespace, link, rule or state file of the run is left, and a lab whose
// process was SIGKILLed (no exit handler ran) is removed by cleanupLeftovers().
// Needs root: skipped without it unless REQUIRE_ROOT=1, which makes it fail instead.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { createConnection } from 'node:net';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { cleanupLeftovers, createNetnsLab, netnsNamesPresent, netnsStateDir, type NetnsLab } from '../../cluster/netns.js';
import { bridgePartition, dropOneWay, isolateHost } from '../../cluster/netns-partitions.js';

const isRoot = process.getuid?.() === 0;
const skip = isRoot || process.env.REQUIRE_ROOT === '1' ? false : 'needs root for network namespaces and iptables (REQUIRE_ROOT=1 makes this a failure)';
const agentPath = fileURLToPath(new URL('./ns-agent.ts', import.meta.url));
const holderPath = fileURLToPath(new URL('./lab-holder.ts', import.meta.url));
/** Long enough for a connect across a live veth on a loaded machine; a dropped SYN never connects. */
const reachTimeoutMs = 5000;
const cutTimeoutMs = 1500;
const port = 7000;

type Reply = Record<string, unknown>;

class Agent {
  readonly child: ChildProcess;
  readonly udpSeen: string[] = [];
  readonly ready: Promise<Reply>;
  #seq = 0;
  readonly #waiting = new Map<number, (r: Reply) => void>();

  constructor(prefix: readonly string[]) {
    this.child = spawn(prefix[0]!, [...prefix.slice(1), process.execPath, '--import', 'tsx', agentPath], { stdio: ['pipe', 'pipe', 'inherit'] });
    let onReady: (r: Reply) => void = () => {};
    this.ready = new Promise((res) => { onReady = res; });
    createInterface({ input: this.child.stdout! }).on('line', (line) => {
      const r = JSON.parse(line) as Reply;
      if (r.event === 'ready') onReady(r);
      else if (r.event === 'udp') this.udpSeen.push(String(r.text));
      else this.#waiting.get(Number(r.seq))?.(r);
    });
    // A probe that dies must fail the test at once, not leave it waiting for an answer.
    this.child.once('exit', (code, signal) => {
      for (const w of this.#waiting.values()) w({ result: `agent exited (${signal ?? code})` });
    });
  }

  ask(cmd: Reply): Promise<Reply> {
    const seq = ++this.#seq;
    return new Promise((res) => {
      this.#waiting.set(seq, res);
      this.child.stdin!.write(`${JSON.stringify({ ...cmd, seq })}\n`);
    });
  }

  async tcp(host: string, timeoutMs = reachTimeoutMs): Promise<string> {
    return String((await this.ask({ op: 'tcp', host, port, timeoutMs })).result);
  }
}

function tcpFromRoot(host: string): Promise<string> {
  return new Promise((res) => {
    const s = createConnection({ host, port });
    const timer = setTimeout(() => { s.destroy(); res('timeout'); }, reachTimeoutMs);
    s.once('connect', () => { clearTimeout(timer); s.destroy(); res('connected'); });
    s.once('error', (e: NodeJS.ErrnoException) => { clearTimeout(timer); res(e.code ?? e.message); });
  });
}

/** Packets the DROP rule for `fromIp` in host's partition chain has counted. */
function dropCount(lab: NetnsLab, host: string, fromIp: string): Promise<number> {
  return new Promise((res, rej) => {
    const c = spawn('ip', ['netns', 'exec', lab.host(host).ns, 'iptables', '-w', '5', '-L', 'RF-PARTITION', '-v', '-n', '-x'], { stdio: ['ignore', 'pipe', 'inherit'] });
    let text = '';
    c.stdout!.on('data', (d: Buffer) => { text += d.toString(); });
    c.once('error', rej);
    c.once('exit', () => {
      const line = text.split('\n').find((l) => l.includes('DROP') && l.includes(fromIp));
      res(line === undefined ? -1 : Number(line.trim().split(/\s+/)[0]));
    });
  });
}

t.test('three hosts in namespaces: reachability, isolate, one-way, bridge, and nothing left after', { skip, timeout: 120_000 }, async (t) => {
  t.ok(isRoot, 'running as root (REQUIRE_ROOT=1)');
  if (!isRoot) return;
  const lab = createNetnsLab(3);
  const agents: Agent[] = [];
  t.teardown(() => {
    for (const a of agents) a.child.kill('SIGKILL');
    lab.teardown();
  });
  for (const h of lab.hosts) agents.push(new Agent(lab.execPrefix(h.name)));
  const [a1, a2, a3] = agents as [Agent, Agent, Agent];
  const [h1, h2, h3] = lab.hosts.map((h) => h.ip) as [string, string, string];
  for (const [i, a] of agents.entries()) {
    const ready = await a.ready;
    t.equal(ready.pid, a.child.pid, `the pid spawn holds for h${i + 1}'s process is the process's own (ip netns exec runs it in place)`);
    // tsx may start an esbuild service as the agent's child (a cold transform cache, as in
    // a fresh clone): the namespace holds the agent and its descendants, nothing else.
    const inNs = lab.pids(`h${i + 1}`);
    t.ok(inNs.includes(a.child.pid!), `h${i + 1}'s namespace runs that process`);
    t.same(inNs.filter((p) => !descendsFrom(p, a.child.pid!)), [], `h${i + 1}'s namespace runs nothing but it and its children`);
  }
  for (const [i, a] of agents.entries()) t.same(await a.ask({ op: 'listen', host: lab.hosts[i]!.ip, port }), { seq: 1, listening: true }, `h${i + 1} listens on ${lab.hosts[i]!.ip}:${port}`);

  t.equal(await a2.tcp(h1), 'connected', 'h2 reaches the TCP server in h1');
  t.equal(await a3.tcp(h1), 'connected', 'h3 reaches it');
  t.equal(await tcpFromRoot(h1), 'connected', 'the root namespace reaches it over the bridge');
  t.equal(await tcpFromRoot('127.0.0.1').then((r) => r !== 'connected'), true, 'h1\'s server is not on the root namespace\'s loopback');

  const iso = isolateHost(lab, 'h1');
  t.equal(iso.description, 'h1 isolated from h2, h3');
  t.equal(await a2.tcp(h1, cutTimeoutMs), 'timeout', 'isolated: h2 cannot reach h1 (silently: the SYN is dropped)');
  t.equal(await a3.tcp(h1, cutTimeoutMs), 'timeout', 'isolated: h3 cannot reach h1');
  t.equal(await a1.tcp(h2, cutTimeoutMs), 'timeout', 'isolated: h1 cannot reach h2');
  t.equal(await a2.tcp(h3), 'connected', 'h2 and h3 still talk');
  t.equal(await tcpFromRoot(h1), 'connected', 'the root namespace still reaches the isolated host');
  iso.heal();
  iso.heal();
  t.equal(await a2.tcp(h1), 'connected', 'healed: h2 reaches h1 again');
  t.equal(await a1.tcp(h3), 'connected', 'healed: h1 reaches h3 again');

  const oneWay = dropOneWay(lab, 'h1', 'h2');
  await a2.ask({ op: 'udp', host: h1, port, text: 'h2-to-h1' });
  await a1.ask({ op: 'udp', host: h2, port, text: 'h1-to-h2' });
  await a1.ask({ op: 'udp', host: h3, port, text: 'h1-to-h3' });
  while (!a1.udpSeen.includes('h2-to-h1') || !a3.udpSeen.includes('h1-to-h3')) await new Promise((r) => setTimeout(r, 20));
  t.pass('one-way h1 -> h2: h2\'s datagram reaches h1, h1\'s reaches h3');
  t.ok(await dropCount(lab, 'h2', h1) >= 1, 'h1\'s datagram reached h2 and was dropped there by the rule');
  t.notOk(a2.udpSeen.includes('h1-to-h2'), 'h2 never got h1\'s datagram');
  t.equal(await a3.tcp(h2), 'connected', 'h3 still reaches h2');
  oneWay.heal();
  await a1.ask({ op: 'udp', host: h2, port, text: 'h1-to-h2-healed' });
  while (!a2.udpSeen.includes('h1-to-h2-healed')) await new Promise((r) => setTimeout(r, 20));
  t.pass('healed: h1\'s datagrams reach h2');

  const br = bridgePartition(lab, 'h1', 'h3');
  t.equal(br.description, 'h1 and h3 cut from each other, both reach h2');
  t.equal(await a1.tcp(h3, cutTimeoutMs), 'timeout', 'bridge: h1 cannot reach h3');
  t.equal(await a3.tcp(h1, cutTimeoutMs), 'timeout', 'bridge: h3 cannot reach h1');
  t.equal(await a1.tcp(h2), 'connected', 'bridge: h1 reaches h2');
  t.equal(await a3.tcp(h2), 'connected', 'bridge: h3 reaches h2');
  t.equal(await a2.tcp(h1), 'connected', 'bridge: h2 reaches h1');
  t.equal(await a2.tcp(h3), 'connected', 'bridge: h2 reaches h3');
  // Overlapping partitions heal independently: isolate h3 too, heal the bridge, h3 stays cut.
  const iso3 = isolateHost(lab, 'h3');
  br.heal();
  t.equal(await a1.tcp(h3, cutTimeoutMs), 'timeout', 'the bridge healed while h3 is isolated: h1 still cannot reach h3');
  iso3.heal();
  t.equal(await a1.tcp(h3), 'connected', 'both healed: h1 reaches h3');

  for (const a of agents) a.child.kill('SIGKILL');
  lab.teardown();
  t.same(netnsNamesPresent(lab.tag), [], 'no namespace or link of the run is left (ip netns list, ip link)');
  t.notOk(existsSync(join(netnsStateDir, `${lab.tag}.json`)), 'its state file is gone');
});

t.test('cleanupLeftovers removes the lab of a SIGKILLed run', { skip, timeout: 60_000 }, async (t) => {
  if (!isRoot) return;
  const holder = spawn(process.execPath, ['--import', 'tsx', holderPath, '2'], { stdio: ['ignore', 'pipe', 'inherit'] });
  t.teardown(() => { holder.kill('SIGKILL'); });
  const tag = await new Promise<string>((res, rej) => {
    createInterface({ input: holder.stdout! }).once('line', (l) => res(String((JSON.parse(l) as Reply).tag)));
    holder.once('exit', (code) => rej(new Error(`lab holder exited ${code}`)));
  });
  t.equal(netnsNamesPresent(tag).length, 5, `the holder made 2 namespaces, 2 veths and a bridge (${tag})`);
  const gone = new Promise((r) => holder.once('exit', r));
  holder.kill('SIGKILL');
  await gone;
  t.equal(netnsNamesPresent(tag).length, 5, 'a SIGKILL leaves them behind');
  const removed = cleanupLeftovers();
  t.ok(removed.some((r) => r.includes(tag)), `cleanupLeftovers names what it removed (${removed.join(', ')})`);
  t.same(netnsNamesPresent(tag), [], 'nothing of the killed run is left');
  t.notOk(existsSync(join(netnsStateDir, `${tag}.json`)), 'its state file is gone');
});

/** Whether `pid` is `ancestor` or runs under it (parent links from /proc/<pid>/stat). */
function descendsFrom(pid: number, ancestor: number): boolean {
  for (let p = pid, hops = 0; p > 1 && hops < 64; hops++) {
    if (p === ancestor) return true;
    try {
      const stat = readFileSync(`/proc/${p}/stat`, 'utf8');
      p = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    } catch {
      return false;
    }
  }
  return false;
}
