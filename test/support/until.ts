// Polling for real-process tests: what a cluster does after an action (elect, catch up,
// apply a commit) is seen by asking it again until it answers, within a bound.

/** Resolves with `probe`'s first non-null answer, asked every `intervalMs`; rejects naming
 * `what` once `timeoutMs` has passed without one. */
export async function until<T>(what: string, probe: () => Promise<T | null>, timeoutMs: number, intervalMs = 100): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== null) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}
