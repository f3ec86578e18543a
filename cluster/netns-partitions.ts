// Partition nemeses between the hosts of a network-namespace lab (netns.ts): iptables DROP
// rules in the receiving host's RF-PARTITION chain (INPUT jumps there first). Dropping on
// input, never on output, makes a partition silent as a real one is: a sender's packets
// leave and vanish (TCP retransmits, UDP is lost), where an OUTPUT drop would fail the
// send at once with EPERM and tell the sender. The root namespace (launcher, clients,
// SIPp) is never cut off: each rule names one host's source address, not the bridge's.
// Rules are counted, not named: two partitions may add the same rule and each heal()
// deletes one copy of its own, so overlapping partitions heal independently.
import { execFileSync } from 'node:child_process';
import { NetnsError, partitionChain, type NetnsLab } from './netns.js';

export type PartitionKind = 'isolate' | 'one-way' | 'bridge';

export type Partition = Readonly<{
  kind: PartitionKind;
  /** e.g. "h1 isolated from h2, h3"; "h1 -> h2 dropped (h2 -> h1 fine)"; "h1 and h3 cut, both reach h2". */
  description: string;
  /** The (receiver, dropped source) pairs this partition installed. */
  drops: readonly Readonly<{ at: string; from: string }>[];
  /** Removes this partition's rules (idempotent). */
  heal: () => void;
}>;

function iptablesIn(ns: string, args: readonly string[]): void {
  try {
    execFileSync('ip', ['netns', 'exec', ns, 'iptables', '-w', '5', ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
  } catch (err) {
    throw new NetnsError(`iptables ${args.join(' ')} in ${ns}: ${String((err as { stderr?: Buffer }).stderr ?? (err as Error).message).trim()}`);
  }
}

/** Installs "packets from host `from` arriving at host `at` are dropped" for each pair. */
function partition(lab: NetnsLab, kind: PartitionKind, description: string, pairs: readonly { at: string; from: string }[]): Partition {
  const rule = (p: { at: string; from: string }): string[] => [partitionChain, '-s', lab.host(p.from).ip, '-j', 'DROP'];
  const added: { at: string; from: string }[] = [];
  let healed = false;
  const heal = (): void => {
    if (healed) return;
    healed = true;
    let first: Error | null = null;
    for (const p of added.splice(0).reverse()) {
      try {
        iptablesIn(lab.host(p.at).ns, ['-D', ...rule(p)]);
      } catch (err) {
        first ??= err as Error;
      }
    }
    if (first) throw first;
  };
  try {
    for (const p of pairs) {
      if (p.at === p.from) throw new NetnsError(`a partition between ${p.at} and itself`);
      iptablesIn(lab.host(p.at).ns, ['-A', ...rule(p)]);
      added.push(p);
    }
  } catch (err) {
    heal();
    throw err;
  }
  return { kind, description, drops: pairs, heal };
}

/** `host` can neither send to nor receive from any other host (the root namespace still
 * reaches it, as a client on the far side of the cut would). */
export function isolateHost(lab: NetnsLab, host: string): Partition {
  const others = lab.hosts.map((h) => h.name).filter((n) => n !== lab.host(host).name);
  const pairs = others.flatMap((o) => [{ at: host, from: o }, { at: o, from: host }]);
  return partition(lab, 'isolate', `${host} isolated from ${others.join(', ')}`, pairs);
}

/** What `from` sends to `to` is lost; what `to` sends to `from` arrives. (TCP needs both
 * ways, so no TCP connection between the two comes up in either direction; UDP shows the
 * asymmetry.) */
export function dropOneWay(lab: NetnsLab, from: string, to: string): Partition {
  return partition(lab, 'one-way', `${from} -> ${to} dropped (${to} -> ${from} fine)`, [{ at: to, from }]);
}

/** `a` and `c` cannot talk to each other; both talk to every other host (with three hosts:
 * the overlapping majorities {a, b} and {b, c}, with b the bridge between them). */
export function bridgePartition(lab: NetnsLab, a: string, c: string): Partition {
  const middle = lab.hosts.map((h) => h.name).filter((n) => n !== a && n !== c);
  return partition(lab, 'bridge', `${a} and ${c} cut from each other, both reach ${middle.join(', ')}`, [{ at: a, from: c }, { at: c, from: a }]);
}
