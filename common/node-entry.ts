// How one of our processes starts another of ours: the node arguments that run a given
// TypeScript entry point. From the sources that is `--import tsx <file>.ts`: tsx compiles
// every module on load, which costs a role process about half a CPU-second at start (0.76
// against 0.29 s for the store role, measured with /usr/bin/time). Where a compiled tree
// exists the JavaScript runs directly:
// - in a compiled tree itself (its `.ts` siblings absent), always;
// - from the sources, when RINGFENCE_BUILD_DIR names the tree `npm test` has just built
//   (`tsc --outDir` plus the non-TypeScript files beside the modules), so the hundreds of
//   role processes a test run starts skip tsx. Without the variable nothing else changes:
//   a test run by hand, or an edited source, never meets a stale build.
import { existsSync } from 'node:fs';
import { isAbsolute, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const sourceRoot = fileURLToPath(new URL('..', import.meta.url));

/** The node arguments (before the entry's own) that run `tsFile`, an absolute path to one
 * of our `.ts` modules. */
export function nodeEntryArgs(tsFile: string, env: NodeJS.ProcessEnv = process.env): string[] {
  if (!tsFile.endsWith('.ts')) throw new Error(`not a TypeScript entry point: ${tsFile}`);
  const jsFile = `${tsFile.slice(0, -3)}.js`;
  if (!existsSync(tsFile) && existsSync(jsFile)) return [jsFile];
  const buildDir = env.RINGFENCE_BUILD_DIR;
  if (buildDir) {
    const rel = relative(sourceRoot, jsFile);
    const built = join(isAbsolute(buildDir) ? buildDir : join(sourceRoot, buildDir), rel);
    if (!rel.startsWith('..') && existsSync(built)) return [built];
  }
  return ['--import', 'tsx', tsFile];
}
