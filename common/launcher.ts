// `ringfence start` — the one-command local cluster. Until the launcher lands it says so
// plainly instead of pretending to start anything.
export async function main(_argv: string[]): Promise<void> {
  process.stdout.write('ringfence: coming soon: the cluster launcher (see README.md for what works today)\n');
}
