// A run beside the shared log's write queue (LogQueue.beside, used by log compaction's
// range clear): the queue's next batch does not wait for it, idle() does, and its failure
// refuses every later write as a failed write would.
import t from 'tap';
import { LogQueue } from '../../../raft/storage/log-queue.js';
import { openLogDb } from '../../../raft/storage/log-keys.js';

const key = (s: string): Uint8Array => new TextEncoder().encode(s);

t.test('the next batch is written while a run beside the queue is still going; idle() waits for both', async (t) => {
  const dir = t.testdir();
  const db = await openLogDb(dir);
  t.teardown(() => db.close());
  const q = new LogQueue(db, dir, { coalesce: true });
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  let besideDone = false;
  const beside = q.beside(() => gate.then(() => void (besideDone = true)), 'compact');
  await q.write([{ type: 'put', key: key('k1'), value: key('v1') }], true, 'save');
  t.notOk(besideDone, 'the batch did not wait for the run beside the queue');
  t.equal(q.stats.writes, 1);
  let idle = false;
  const idleP = q.idle().then(() => (idle = true));
  await new Promise((r) => setTimeout(r, 20));
  t.notOk(idle, 'idle() waits for the run beside the queue');
  release();
  await beside;
  await idleP;
  t.ok(idle, 'and resolves once it is done');
});

t.test('a run beside the queue that fails refuses every later write', async (t) => {
  const dir = t.testdir();
  const db = await openLogDb(dir);
  t.teardown(() => db.close());
  const q = new LogQueue(db, dir, { coalesce: true });
  await t.rejects(q.beside(() => Promise.reject(new Error('disk gone')), 'compact'), { code: 'RAFT_ERR_STORAGE' });
  t.match(q.failed ?? '', /disk gone/);
  await t.rejects(q.write([{ type: 'put', key: key('k'), value: key('v') }], true, 'save'), { code: 'RAFT_ERR_STORAGE', message: /refused after an earlier failure/ });
  await t.rejects(q.beside(() => Promise.resolve(), 'compact'), { code: 'RAFT_ERR_STORAGE' });
});

t.test('batches queued when the run beside the queue fails are refused, running or not', async (t) => {
  const dir = t.testdir();
  const db = await openLogDb(dir);
  t.teardown(() => db.close());
  const q = new LogQueue(db, dir, { coalesce: true });
  let fail!: (e: Error) => void;
  const beside = q.beside(() => new Promise<void>((_, rej) => (fail = rej)), 'compact');
  const running = q.write([{ type: 'put', key: key('first'), value: key('v') }], true, 'save');
  await new Promise((r) => setImmediate(r)); // the first batch has started
  const waiting = q.write([{ type: 'put', key: key('second'), value: key('v') }], true, 'save');
  fail(new Error('disk gone'));
  await t.rejects(beside, { code: 'RAFT_ERR_STORAGE' });
  await running; // it was already under way: it completes
  await t.rejects(waiting, { code: 'RAFT_ERR_STORAGE', message: /refused after an earlier failure/ }, 'the batch behind it is refused, not written');
  t.equal(await db.get(key('second')), undefined, 'and nothing of it is on disk');
});
