// Proves the CLI flag parser's user-facing behaviour: an unknown flag and a bad integer get
// a message naming the flag, the environment fills what the command line leaves out, and
// the help text keeps every flag's description apart from its name, however long the name.
// (--help and --version exit the process: test/cluster/cli.test.ts runs them in real ones.)
import t from 'tap';
import { intFlag, parseFlags } from '../../common/args.js';

const spec = {
  'ring-timeout-ms': { type: 'string', help: 'ring this long', default: '15000' },
  'a-rather-long-flag-name-for-help': { type: 'string', help: 'long one' },
} as const;

t.test('bad flags are named', async (t) => {
  t.throws(() => parseFlags(['--nope'], spec, 'usage: x'), { code: 'CLI_ERR_USAGE', message: /nope/ });
  t.throws(() => intFlag('abc', 'ring-timeout-ms', 1, 10, 5), /--ring-timeout-ms must be an integer from 1 to 10, got "abc"/);
  t.equal(intFlag(undefined, 'x', 1, 10, 5), 5);
});

t.test('environment fallback', async (t) => {
  process.env.RINGFENCE_RING_TIMEOUT_MS = '700';
  t.teardown(() => delete process.env.RINGFENCE_RING_TIMEOUT_MS);
  t.equal(parseFlags([], spec, 'usage: x')['ring-timeout-ms'], '700');
  t.equal(parseFlags(['--ring-timeout-ms', '800'], spec, 'usage: x')['ring-timeout-ms'], '800', 'the command line wins');
});

t.test('help lines keep at least two spaces between a flag and its description', async (t) => {
  let message = '';
  try {
    parseFlags(['--nope'], spec, 'usage: x');
  } catch (err) {
    message = (err as Error).message;
  }
  const lines = message.split('\n').filter((l) => l.startsWith('  --'));
  t.equal(lines.length, 4, 'both flags, then --help and --version');
  for (const line of lines) t.match(line, /^ {2}--\S+?(, -h)?( <value>)? {2,}\S/, line);
});

t.test('a boolean from the environment must say yes or no', async (t) => {
  const bools = { 'no-phones': { type: 'boolean', help: 'x' } } as const;
  t.equal(parseFlags([], bools, 'u', { RINGFENCE_NO_PHONES: '1' })['no-phones'], true);
  t.equal(parseFlags([], bools, 'u', { RINGFENCE_NO_PHONES: 'false' })['no-phones'], false);
  t.equal(parseFlags([], bools, 'u', {})['no-phones'], false);
  t.throws(() => parseFlags([], bools, 'u', { RINGFENCE_NO_PHONES: 'yes please' }), { code: 'CLI_ERR_USAGE', message: /RINGFENCE_NO_PHONES \(for --no-phones\) must be 1, true, 0 or false/ });
  t.equal(parseFlags([], spec, 'u', { RINGFENCE_RING_TIMEOUT_MS: '' })['ring-timeout-ms'], '15000', 'an empty variable is unset');
});
