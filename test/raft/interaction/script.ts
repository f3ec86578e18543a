// The interaction script language (etcd testdata style). One command per line, `#` starts
// a comment. Node lists are space separated; `*` means every live node.
//
// Setup:     cluster 1 2 3 [learners=4,5] [prevote=off] [checkquorum=off] [chunk=N]
//                    [inflight=N] [entriesmax=N] [uncommitted=N] [election=N] [heartbeat=N]
//                    [bugs=name,name]
//            add-node 4                      (an empty node, not yet a member)
// Time:      tick <nodes|*> [n]              campaign <node>   (tick until it campaigns)
//            elect <node>                    (campaign, then stabilize everybody)
// Network:   process [nodes]                 (handle Ready: persist, apply, queue messages)
//            deliver [from=X] [to=Y] [type=T]  drop [from=X] [to=Y] [type=T]
//            lose <count> [after=N] [from=X] [to=Y] [type=T]   (future sends: let N pass, lose count)
//            stabilize [nodes]               partition 1 2 | 3     heal
// Clients:   propose <node> <data>           propose-n <node> <count> [prefix]
//            propose-conf <node> addLearner|promote|remove <id>
//            read <node> <ctx>               transfer <node> <to>
//            compact <node> [index] [pad=N]  fail <node> <reason>
//            crash <node>                    restart <node>         trace on|off
// Checks:    expect leader <node>            expect no-leader <nodes|*>
//            expect <term|commit|applied|last|first|snapshot|vote|lead|role> <nodes|*> <value>
//            expect log-terms <node> <t...>  expect data <nodes|*> <value...>
//            expect read <node> <ctx> <index>  expect read-failed <node> <ctx> [reason]
//            expect no-read <node> <ctx>     expect ok | expect error <CODE>
//            expect conf <nodes|*> voters=a,b learners=c
//            expect peer <leader> <id> [state=S] [match=N] [next=N]
//            expect queued [from=X] [to=Y] [type=T] <count>
//            expect entries-per-append <from> <to> <count>   (every queued append matches)
import type { ConfChange, Message, NodeId, RaftConfig, RaftResult } from '../../../raft/types.js';
import { SimCluster, describe } from './cluster.js';
import type { BugName } from '../../../raft/sim/planted-bugs.js';

const encoder = new TextEncoder();

export class ScriptError extends Error {}

type Ctx = { cluster: SimCluster | null; last: RaftResult<unknown> | null; output: string[] };

function kv(args: string[]): { rest: string[]; opts: Map<string, string> } {
  const opts = new Map<string, string>();
  const rest: string[] = [];
  for (const a of args) {
    const at = a.indexOf('=');
    if (at > 0) opts.set(a.slice(0, at), a.slice(at + 1));
    else rest.push(a);
  }
  return { rest, opts };
}

function messageFilter(opts: Map<string, string>): (m: Message) => boolean {
  const from = opts.get('from');
  const to = opts.get('to');
  const type = opts.get('type');
  return (m: Message) => (from === undefined || m.from === from) && (to === undefined || m.to === to) && (type === undefined || m.type === type);
}

function fail(msg: string): never {
  throw new ScriptError(msg);
}

function eq(actual: unknown, expected: unknown, what: string): void {
  if (String(actual) !== String(expected)) fail(`${what}: expected ${String(expected)}, got ${String(actual)}`);
}

function setup(args: string[]): SimCluster {
  const { rest, opts } = kv(args);
  const overrides: { -readonly [K in keyof RaftConfig]?: RaftConfig[K] } = {};
  const num = (key: string, field: keyof RaftConfig): void => {
    const v = opts.get(key);
    if (v !== undefined) (overrides as Record<string, unknown>)[field] = Number(v);
  };
  num('chunk', 'snapshotChunkBytes');
  num('inflight', 'inflightAppendsMax');
  num('entriesmax', 'appendEntriesMax');
  num('uncommitted', 'uncommittedBytesMax');
  num('election', 'electionTimeoutTicks');
  num('heartbeat', 'heartbeatTicks');
  const bugs = opts.get('bugs');
  const cluster = new SimCluster({
    bugs: bugs === undefined ? [] : (bugs.split(',') as BugName[]),
    preVote: opts.get('prevote') !== 'off',
    checkQuorum: opts.get('checkquorum') !== 'off',
    overrides,
  });
  const learners = opts.get('learners')?.split(',') ?? [];
  const conf = { voters: rest, learners };
  cluster.initialConf = conf;
  for (const id of [...rest, ...learners]) cluster.addNode(id, conf);
  return cluster;
}

function nodesOf(c: SimCluster, arg: string | undefined): NodeId[] {
  if (arg === undefined || arg === '*') return c.liveIds();
  return arg.split(',');
}

function campaign(c: SimCluster, id: NodeId): void {
  const core = c.node(id).live();
  const limit = 3 * c.node(id).config.electionTimeoutTicks;
  for (let i = 0; i < limit; i++) {
    const role = core.status().role;
    if (role !== 'follower' && role !== 'learner') break;
    core.tick();
  }
  const role = core.status().role;
  if (role === 'follower' || role === 'learner') fail(`node ${id} did not campaign`);
  c.process([id]);
}

function runCommand(ctx: Ctx, cmd: string, args: string[]): void {
  if (cmd === 'cluster') {
    ctx.cluster = setup(args);
    return;
  }
  const c = ctx.cluster ?? fail('no cluster: start with `cluster`');
  const { rest, opts } = kv(args);
  switch (cmd) {
    case 'add-node':
      // A joining node is started with the group's initial configuration (as the driver
      // does from the cluster file); later changes reach it through the log or a snapshot.
      c.addNode(rest[0]!, c.initialConf);
      return;
    case 'tick': {
      const n = Number(rest[1] ?? 1);
      for (const id of nodesOf(c, rest[0])) for (let i = 0; i < n; i++) c.node(id).live().tick();
      return;
    }
    case 'campaign':
      campaign(c, rest[0]!);
      return;
    case 'elect':
      campaign(c, rest[0]!);
      c.stabilize(c.liveIds());
      return;
    case 'process':
      c.process(rest.length > 0 ? rest : c.liveIds());
      return;
    case 'deliver':
      c.deliver(messageFilter(opts));
      return;
    case 'lose':
      c.lose(messageFilter(opts), Number(opts.get('after') ?? 0), Number(rest[0] ?? 1));
      return;
    case 'drop':
      c.drop(messageFilter(opts));
      return;
    case 'stabilize':
      c.stabilize(rest.length > 0 ? rest : c.liveIds());
      return;
    case 'partition': {
      const groups: NodeId[][] = [[]];
      for (const a of rest) {
        if (a === '|') groups.push([]);
        else groups[groups.length - 1]!.push(a);
      }
      c.partition(groups);
      return;
    }
    case 'heal':
      c.heal();
      return;
    case 'propose':
      ctx.last = c.node(rest[0]!).live().propose(encoder.encode(rest[1] ?? ''));
      return;
    case 'propose-n': {
      // Many proposals in a row (no Ready in between): data is <prefix><i>.
      const core = c.node(rest[0]!).live();
      for (let i = 1; i <= Number(rest[1]); i++) {
        ctx.last = core.propose(encoder.encode(`${rest[2] ?? 'p'}${i}`));
        if (!ctx.last.ok) return;
      }
      return;
    }
    case 'propose-conf':
      ctx.last = c.node(rest[0]!).live().proposeConfChange({ type: rest[1], node: rest[2] } as ConfChange);
      return;
    case 'read':
      c.node(rest[0]!).live().readIndex(rest[1]!);
      return;
    case 'transfer':
      ctx.last = c.node(rest[0]!).live().transferLeadership(rest[1]!);
      return;
    case 'compact': {
      const n = c.node(rest[0]!);
      n.compact(rest[1] !== undefined ? Number(rest[1]) : n.appliedIndex, Number(opts.get('pad') ?? 0));
      return;
    }
    case 'fail':
      c.node(rest[0]!).live().fail(rest.slice(1).join(' ') || 'failed');
      return;
    case 'crash':
      c.node(rest[0]!).crash();
      c.queue = c.queue.filter((m) => m.to !== rest[0] && m.from !== rest[0]);
      return;
    case 'restart':
      c.node(rest[0]!).restart();
      return;
    case 'trace':
      c.trace = rest[0] === 'on' ? [] : null;
      return;
    case 'expect':
      expect(ctx, c, args);
      return;
    default:
      fail(`unknown command ${cmd}`);
  }
}

function expect(ctx: Ctx, c: SimCluster, args: string[]): void {
  const { rest, opts } = kv(args);
  const [what, ...tail] = rest;
  switch (what) {
    case 'ok':
      if (ctx.last === null || !ctx.last.ok) fail(`expected ok, got ${JSON.stringify(ctx.last)}`);
      return;
    case 'error':
      if (ctx.last === null || ctx.last.ok) fail(`expected error ${tail[0]}, got ${JSON.stringify(ctx.last)}`);
      eq(ctx.last.error.code, tail[0], 'error code');
      return;
    case 'leader': {
      const id = tail[0]!;
      const st = c.node(id).live().status();
      eq(st.role, 'leader', `role of ${id}`);
      for (const other of c.liveIds()) {
        const os = c.node(other).live().status();
        if (other !== id && os.role === 'leader' && os.term === st.term) fail(`${other} is also leader in term ${st.term}`);
      }
      return;
    }
    case 'no-leader':
      for (const id of nodesOf(c, tail[0])) {
        if (c.node(id).live().status().role === 'leader') fail(`${id} is leader`);
      }
      return;
    case 'term': case 'commit': case 'applied': case 'last': case 'first': case 'snapshot':
    case 'vote': case 'lead': case 'role': {
      for (const id of nodesOf(c, tail[0])) {
        const st = c.node(id).live().status();
        const value = {
          term: st.term, commit: st.commit, applied: st.applied, last: st.lastIndex, first: st.firstIndex,
          snapshot: st.snapshotIndex, vote: st.vote ?? 'none', lead: st.leader ?? 'none', role: st.role,
        }[what];
        eq(value, tail[1], `${what} of ${id}`);
      }
      return;
    }
    case 'log-terms': {
      const n = c.node(tail[0]!);
      const terms = n.stored.entries.map((e) => e.term).join(' ');
      eq(terms, tail.slice(1).join(' '), `persisted log terms of ${tail[0]}`);
      return;
    }
    case 'data':
      for (const id of nodesOf(c, tail[0])) {
        eq(c.node(id).values.map(([, v]) => v).join(' '), tail.slice(1).join(' '), `applied data of ${id}`);
      }
      return;
    case 'read': {
      const n = c.node(tail[0]!);
      const rs = n.readStates.find((r) => r.context === tail[1]);
      if (rs === undefined) fail(`node ${tail[0]} has no read state ${tail[1]} (has ${JSON.stringify(n.readStates)}, failures ${JSON.stringify(n.readFailures)})`);
      eq(rs.index, tail[2], `read index of ${tail[1]}`);
      return;
    }
    case 'read-failed': {
      const n = c.node(tail[0]!);
      const rf = n.readFailures.find((r) => r.context === tail[1]);
      if (rf === undefined) fail(`node ${tail[0]} has no read failure ${tail[1]}`);
      if (tail[2] !== undefined) eq(rf.reason, tail[2], `read failure reason of ${tail[1]}`);
      return;
    }
    case 'no-read': {
      const n = c.node(tail[0]!);
      if (n.readStates.some((r) => r.context === tail[1]) || n.readFailures.some((r) => r.context === tail[1])) {
        fail(`node ${tail[0]} already has an outcome for read ${tail[1]}`);
      }
      return;
    }
    case 'conf':
      for (const id of nodesOf(c, tail[0])) {
        const conf = c.node(id).live().status().conf;
        eq([...conf.voters].sort().join(','), opts.get('voters') ?? '', `voters of ${id}`);
        eq([...conf.learners].sort().join(','), opts.get('learners') ?? '', `learners of ${id}`);
      }
      return;
    case 'peer': {
      const st = c.node(tail[0]!).live().status();
      const p = st.peers.find((x) => x.id === tail[1]) ?? fail(`${tail[0]} has no progress for ${tail[1]}`);
      if (opts.has('state')) eq(p.state, opts.get('state'), `state of ${tail[1]}`);
      if (opts.has('match')) eq(p.matchIndex, opts.get('match'), `match of ${tail[1]}`);
      if (opts.has('next')) eq(p.nextIndex, opts.get('next'), `next of ${tail[1]}`);
      return;
    }
    case 'queued': {
      const n = c.queue.filter(messageFilter(opts)).length;
      eq(n, tail[0], `queued messages matching ${JSON.stringify([...opts])} (queue: ${c.queue.map(describe).join('; ')})`);
      return;
    }
    case 'entries-per-append': {
      const appends = c.queue.filter((m) => m.type === 'append' && m.from === tail[0] && m.to === tail[1]);
      if (appends.length === 0) fail(`no append queued from ${tail[0]} to ${tail[1]}`);
      for (const m of appends) if (m.type === 'append') eq(m.entries.length, tail[2], 'entries in append');
      return;
    }
    default:
      fail(`unknown expectation ${what}`);
  }
}

/** Runs a script; throws ScriptError naming the failing line. Returns the trace, if on. */
export function runScript(text: string, name: string): string[] {
  const ctx: Ctx = { cluster: null, last: null, output: [] };
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.replace(/#.*/, '').trim();
    if (line === '') continue;
    const [cmd, ...args] = line.split(/\s+/);
    try {
      runCommand(ctx, cmd!, args);
    } catch (err) {
      const trace = ctx.cluster?.trace ? `\ntrace:\n${ctx.cluster.trace.slice(-60).join('\n')}` : '';
      const msg = err instanceof Error ? err.message : String(err);
      throw new ScriptError(`${name}:${i + 1}: ${line}\n  ${msg}${trace}`, { cause: err });
    }
  }
  return ctx.cluster?.trace ?? [];
}
