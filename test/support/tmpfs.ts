// A small tmpfs for tests that make a replica's or a store's disk fill up (root only).
import { closeSync, mkdirSync, openSync, writeSync } from 'node:fs';
import { execFileSync } from 'node:child_process';

/** Mounts a `sizeMb` tmpfs at `mnt` (created). */
export function mountTmpfs(mnt: string, sizeMb = 4): void {
  mkdirSync(mnt, { recursive: true });
  execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${sizeMb}m`, 'tmpfs', mnt]);
}

/** Unmounts `mnt`, lazily if something still holds it open. */
export function unmountTmpfs(mnt: string): void {
  try {
    execFileSync('umount', [mnt]);
  } catch {
    execFileSync('umount', ['-l', mnt]);
  }
}

/** Writes 64 KiB blocks into `path` until the file system is full; returns bytes written. */
export function fillUp(path: string): number {
  const fd = openSync(path, 'w');
  const block = Buffer.alloc(64 * 1024, 0xa5);
  let written = 0;
  try {
    for (;;) written += writeSync(fd, block);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOSPC') throw e;
  } finally {
    closeSync(fd);
  }
  return written;
}
