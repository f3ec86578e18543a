// Proves that LevelRaftStorage refuses to load damaged bytes with a clear error: a flipped
// byte in a stored entry (or in the hard state) and a missing entry in the middle of the
// log each reject load() with RAFT_ERR_CORRUPT, and the message names the database
// directory and the entry index. The damage is done with a raw `level` handle on the
// same directory, as a disk or an operator would.

import t from 'tap';
import { Level } from 'level';
import { LevelRaftStorage } from '../../../raft/storage/level-storage.js';
import { entries } from './helpers.js';

async function seeded(dir: string): Promise<void> {
  const s = await LevelRaftStorage.open(dir, { groupId: 'g1' });
  await s.load();
  await s.save({ hardState: { term: 1, vote: 'a', commit: 5 }, entries: entries(1, 5, 1), snapshot: null }, true);
  await s.close();
}

/** Opens the raw database and hands the callback its keys in order (entries first by tag). */
async function tamper(dir: string, fn: (db: Level<Uint8Array, Uint8Array>, keys: Uint8Array[]) => Promise<void>): Promise<void> {
  const db = new Level<Uint8Array, Uint8Array>(dir, { keyEncoding: 'view', valueEncoding: 'view' });
  await db.open();
  const keys: Uint8Array[] = [];
  for await (const k of db.keys()) keys.push(k);
  await fn(db, keys);
  await db.close();
}

const entryKeys = (keys: Uint8Array[]) => keys.filter((k) => k[3] === 0x65); // 'g1\0' then 'e'

t.test('a flipped byte in entry 3 is reported with the directory and the index', async (t) => {
  const dir = t.testdir();
  await seeded(dir);
  await tamper(dir, async (db, keys) => {
    const key = entryKeys(keys)[2]!;
    const value = new Uint8Array((await db.get(key))!);
    value[value.length - 2]! ^= 0x40; // inside the entry's data
    await db.put(key, value);
  });
  const s = await LevelRaftStorage.open(dir, { groupId: 'g1' });
  t.teardown(() => s.close());
  const err = await s.load().then(
    () => null,
    (e: unknown) => e as Error & { code: string },
  );
  t.ok(err, 'load rejects');
  t.equal(err?.code, 'RAFT_ERR_CORRUPT');
  t.match(err?.message, dir);
  t.match(err?.message, /entry 3\b/);
  t.match(err?.message, /checksum/);
});

t.test('a flipped byte in the hard state is corruption too', async (t) => {
  const dir = t.testdir();
  await seeded(dir);
  await tamper(dir, async (db, keys) => {
    const key = keys.find((k) => k[3] === 0x68)!;
    const value = new Uint8Array((await db.get(key))!);
    value[5]! ^= 0x01;
    await db.put(key, value);
  });
  const s = await LevelRaftStorage.open(dir, { groupId: 'g1' });
  t.teardown(() => s.close());
  await t.rejects(s.load(), { code: 'RAFT_ERR_CORRUPT', message: /hard state/ });
});

t.test('a missing entry in the middle of the log is a gap, reported as corruption', async (t) => {
  const dir = t.testdir();
  await seeded(dir);
  await tamper(dir, async (db, keys) => {
    await db.del(entryKeys(keys)[1]!);
  });
  const s = await LevelRaftStorage.open(dir, { groupId: 'g1' });
  t.teardown(() => s.close());
  await t.rejects(s.load(), { code: 'RAFT_ERR_CORRUPT', message: /entry 3: gap in the log, expected entry 2/ });
});

t.test('a truncated entry record is corruption, not a crash', async (t) => {
  const dir = t.testdir();
  await seeded(dir);
  await tamper(dir, async (db, keys) => {
    const key = entryKeys(keys)[4]!;
    await db.put(key, (await db.get(key))!.subarray(0, 3));
  });
  const s = await LevelRaftStorage.open(dir, { groupId: 'g1' });
  t.teardown(() => s.close());
  await t.rejects(s.load(), { code: 'RAFT_ERR_CORRUPT', message: /entry 5/ });
});

t.test('the same group id on an untouched directory loads cleanly (control)', async (t) => {
  const dir = t.testdir();
  await seeded(dir);
  const s = await LevelRaftStorage.open(dir, { groupId: 'g1' });
  t.teardown(() => s.close());
  t.same((await s.load()).entries, entries(1, 5, 1));
});
