// What sockets a process holds, from /proc (Linux): its listening TCP sockets and its
// established connections, matched by inode (/proc/<pid>/fd links `socket:[inode]` to the
// rows of /proc/net/tcp and tcp6), plus its resident memory. `bench stores` counts a
// store's listeners and the Raft connections between stores with these; no `ss` needed.
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';

/** One row of /proc/net/tcp or tcp6: ports as numbers, state as the kernel's hex code. */
export type TcpRow = Readonly<{ localPort: number; remotePort: number; state: TcpState; inode: number }>;
export type TcpState = 'listen' | 'established' | 'other';

/** The rows of one /proc/net/tcp{,6} text; malformed lines are skipped. */
export function parseProcNetTcp(text: string): TcpRow[] {
  const rows: TcpRow[] = [];
  for (const line of text.split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length < 10) continue;
    const localPort = portOf(f[1]!);
    const remotePort = portOf(f[2]!);
    const inode = Number(f[9]);
    if (localPort === null || remotePort === null || !Number.isSafeInteger(inode)) continue;
    // TCP_ESTABLISHED = 1, TCP_LISTEN = 10 (include/net/tcp_states.h).
    const state: TcpState = f[3] === '0A' ? 'listen' : f[3] === '01' ? 'established' : 'other';
    rows.push({ localPort, remotePort, state, inode });
  }
  return rows;
}

/** `0100007F:1F90` → 8080; null when it is not an address:port. */
function portOf(address: string): number | null {
  const colon = address.lastIndexOf(':');
  if (colon < 0) return null;
  const port = Number.parseInt(address.slice(colon + 1), 16);
  return Number.isInteger(port) && port >= 0 && port <= 65535 ? port : null;
}

/** Every TCP row of this network namespace (IPv4 and IPv6). */
export function tcpRows(): TcpRow[] {
  const out: TcpRow[] = [];
  for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
    try {
      out.push(...parseProcNetTcp(readFileSync(file, 'utf8')));
    } catch {
      // no IPv6 on this host
    }
  }
  return out;
}

/** Inodes of the sockets `pid` holds open; empty when the process is gone. */
export function socketInodes(pid: number): Set<number> {
  const inodes = new Set<number>();
  let fds: string[];
  try {
    fds = readdirSync(`/proc/${pid}/fd`);
  } catch {
    return inodes;
  }
  for (const fd of fds) {
    try {
      const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
      if (m) inodes.add(Number(m[1]));
    } catch {
      // closed meanwhile
    }
  }
  return inodes;
}

/** The TCP sockets `pid` holds: listening ports, and established connections by the
 * remote port they reach and the local port they use. */
export function tcpSocketsOf(pid: number, rows: readonly TcpRow[] = tcpRows()): { listening: number[]; established: TcpRow[] } {
  const inodes = socketInodes(pid);
  const mine = rows.filter((r) => r.inode !== 0 && inodes.has(r.inode));
  return { listening: [...new Set(mine.filter((r) => r.state === 'listen').map((r) => r.localPort))].sort((a, b) => a - b), established: mine.filter((r) => r.state === 'established') };
}

/** Connections among a set of processes on their listening ports: each counted once, on
 * the side that dialled (its remote port is one of `ports`, its local port is not). */
export function connectionsTo(pids: readonly number[], ports: ReadonlySet<number>, rows: readonly TcpRow[] = tcpRows()): number {
  let n = 0;
  for (const pid of pids) n += tcpSocketsOf(pid, rows).established.filter((r) => ports.has(r.remotePort) && !ports.has(r.localPort)).length;
  return n;
}

/** Resident set size of `pid` in bytes (VmRSS of /proc/<pid>/status); null if gone. */
export function rssBytes(pid: number): number | null {
  try {
    const kb = /^VmRSS:\s+(\d+)\s+kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
    return kb === undefined ? null : Number(kb) * 1024;
  } catch {
    return null;
  }
}

/** The value of a Prometheus sample line `name{...} value` (or `name value`) in an
 * exposition text, summed over its label sets (those with every one of `labels`, when
 * given); null when absent. */
export function metricValue(exposition: string, name: string, labels: Readonly<Record<string, string>> = {}): number | null {
  const wanted = Object.entries(labels).map(([k, v]) => `${k}=${JSON.stringify(v)}`);
  let sum: number | null = null;
  for (const line of exposition.split('\n')) {
    if (!line.startsWith(name)) continue;
    const rest = line.slice(name.length);
    if (rest[0] !== ' ' && rest[0] !== '{') continue;
    if (wanted.length > 0) {
      const set = rest[0] === '{' ? rest.slice(1, rest.indexOf('}')).split(',') : [];
      if (!wanted.every((w) => set.includes(w))) continue;
    }
    const value = Number(rest.slice(rest.lastIndexOf(' ') + 1));
    if (Number.isFinite(value)) sum = (sum ?? 0) + value;
  }
  return sum;
}
