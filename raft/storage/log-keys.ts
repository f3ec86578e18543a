// The key layout every LevelDB log of ours uses, one group's keys under one prefix so that
// many groups can share a database (SharedLogDb) or one group own it (LevelRaftStorage):
//   utf8(groupId) 0x00 'e' <index as 8-byte big-endian>  → encodeEntry(entry)   (CRC32 inside)
//   utf8(groupId) 0x00 'h'                               → encodeHardState(hs)
//   utf8(groupId) 0x00 's'                               → encodeSnapshot(snap)  (meta + data)
// Fixed-width big-endian indexes make LevelDB's byte order the numeric order, so a group's
// log is one contiguous key range, and a group id never holds 0x00, so one group's range
// never contains another's.

import { Level } from 'level';
import { ioError } from '../io-error.js';

export type LogDb = Level<Uint8Array, Uint8Array>;
export type LogOp = { type: 'put'; key: Uint8Array; value: Uint8Array } | { type: 'del'; key: Uint8Array };
export type KeyRange = { gte: Uint8Array; lt: Uint8Array };

export const TAG_ENTRY = 0x65; // 'e'
export const TAG_HARD = 0x68; // 'h'
export const TAG_SNAP = 0x73; // 's'
const SEPARATOR = 0x00;

export class GroupKeys {
  readonly prefix: Uint8Array;

  constructor(readonly groupId: string) {
    if (groupId.length === 0 || groupId.includes('\0')) {
      throw ioError('RAFT_ERR_STORAGE', `group id ${JSON.stringify(groupId)}: must be non-empty and hold no NUL character (NUL ends the key prefix)`);
    }
    const id = new TextEncoder().encode(groupId);
    this.prefix = new Uint8Array(id.length + 1);
    this.prefix.set(id);
    this.prefix[id.length] = SEPARATOR;
    this.hardKey = this.key(TAG_HARD);
  }

  /** The hard state's key, written by most saves: made once (LevelDB copies a key into
   * its batch, and nothing writes into this one). */
  readonly hardKey: Uint8Array;

  key(tag: number): Uint8Array {
    const k = new Uint8Array(this.prefix.length + 1);
    k.set(this.prefix);
    k[this.prefix.length] = tag;
    return k;
  }

  entryKey(index: number): Uint8Array {
    const at = this.prefix.length + 1;
    const k = new Uint8Array(at + 8);
    k.set(this.prefix);
    k[at - 1] = TAG_ENTRY;
    // Big-endian in two 32-bit halves: a BigInt and a DataView per key cost more than the
    // rest of the key (an entry is saved on every replica, and deleted again later).
    const high = Math.floor(index / 0x1_0000_0000);
    const low = index >>> 0;
    k[at] = high >>> 24;
    k[at + 1] = (high >>> 16) & 0xff;
    k[at + 2] = (high >>> 8) & 0xff;
    k[at + 3] = high & 0xff;
    k[at + 4] = low >>> 24;
    k[at + 5] = (low >>> 16) & 0xff;
    k[at + 6] = (low >>> 8) & 0xff;
    k[at + 7] = low & 0xff;
    return k;
  }

  /** Every entry key of the group. */
  entryRange(): KeyRange {
    return { gte: this.key(TAG_ENTRY), lt: this.key(TAG_ENTRY + 1) };
  }

  /** Every key of the group. */
  groupRange(): KeyRange {
    return { gte: this.prefix, lt: afterGroup(this.prefix.subarray(0, this.prefix.length - 1)) };
  }

  /** The index an entry key holds, -1 for a key of another shape. */
  indexOf(key: Uint8Array): number {
    if (key.length !== this.prefix.length + 9) return -1;
    return Number(new DataView(key.buffer, key.byteOffset, key.byteLength).getBigUint64(this.prefix.length + 1));
  }
}

/** The group id a key belongs to, or null for a key outside the layout (no separator). */
export function groupIdBytesOf(key: Uint8Array): Uint8Array | null {
  const end = key.indexOf(SEPARATOR);
  return end < 0 ? null : key.subarray(0, end);
}

/** The first key after every key of the group whose id bytes are `id`. */
export function afterGroup(id: Uint8Array): Uint8Array {
  const k = new Uint8Array(id.length + 1);
  k.set(id);
  k[id.length] = SEPARATOR + 1;
  return k;
}

export async function openLogDb(dir: string): Promise<LogDb> {
  const db: LogDb = new Level<Uint8Array, Uint8Array>(dir, { keyEncoding: 'view', valueEncoding: 'view' });
  try {
    await db.open();
  } catch (e) {
    throw storageFailure(dir, 'open', e);
  }
  return db;
}

export function storageFailure(dir: string, what: string, cause: unknown): Error {
  const detail = cause instanceof Error ? `${(cause as { code?: string }).code ?? ''} ${cause.message}`.trim() : String(cause);
  const err = ioError('RAFT_ERR_STORAGE', `LevelDB ${dir}: ${what} failed: ${detail}`);
  (err as { cause?: unknown }).cause = cause;
  return err;
}
