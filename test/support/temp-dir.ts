// A temporary directory for one test, removed in its teardown (even when the test fails).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Test } from 'tap';

/** Creates /tmp/ringfence-<name>-XXXXXX and registers its removal on `t`. */
export function tempDir(t: Pick<Test, 'teardown'>, name: string): string {
  const dir = mkdtempSync(join(tmpdir(), `ringfence-${name}-`));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}
