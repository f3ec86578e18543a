// Runs one Ringfence role's main() as its own process — `node --import tsx run-role.ts
// <role> [flags]` — for tests and benches on a tree where common/cli.ts does not list the
// role yet. Same behaviour as `ringfence <role>`: errors go to stderr with exit code 1.
const mains: Record<string, () => Promise<{ main: (argv: string[]) => Promise<void> }>> = {
  sip: () => import('../../sip/node/main.js'),
  phones: () => import('../../sip/phones/main.js'),
};

const [role, ...rest] = process.argv.slice(2);
const load = role === undefined ? undefined : mains[role];
if (load === undefined) {
  process.stderr.write(`run-role: unknown role ${JSON.stringify(role)} (${Object.keys(mains).join(', ')})\n`);
  process.exit(2);
}
try {
  await (await load()).main(rest);
} catch (err) {
  const e = err as Error & { code?: string };
  process.stderr.write(`${role}: ${e.code ? `${e.code}: ` : ''}${e.message}\n`);
  process.exit(1);
}
