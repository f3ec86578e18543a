// A temporary directory for one test, removed in its teardown (even when the test fails).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Test } from 'tap';

/** Creates /tmp/ringfence-<name>-XXXXXX and registers its removal on `t` (kept, for its
 * process logs, when RINGFENCE_KEEP_TEST_DATA is set, as test/support/shard-cluster.ts does). */
export function tempDir(t: Pick<Test, 'teardown'>, name: string): string {
  const dir = mkdtempSync(join(tmpdir(), `ringfence-${name}-`));
  t.teardown(() => {
    if (!process.env.RINGFENCE_KEEP_TEST_DATA) rmSync(dir, { recursive: true, force: true });
  });
  return dir;
}
