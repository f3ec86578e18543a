// Proves a cluster cannot start on a guessable secret, and that the files holding secrets
// are private:
// - a root `secret` shorter than 32 bytes, with too few distinct characters, or still a
//   placeholder (`change-me`, the README's `<run: openssl rand -hex 32>`) is refused with
//   CONFIG_ERR_INVALID naming `secret`; the same for each admin token (32 characters),
//   and the two tokens must differ from each other and from the secret;
// - the README's example cluster file is refused as written, and accepted once its
//   placeholders are replaced by generated values (so the example stays valid);
// - writeLocalClusterConfig writes 32-byte secrets and long tokens, mode 0600, also over
//   an existing world-readable file; clusterFileExposure flags a readable file.
import { chmodSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import t, { type Test } from 'tap';
import { parse as parseYaml } from 'yaml';
import { clusterFileMode, writeLocalClusterConfig, writeSecretFile } from '../../cluster/local-cluster.js';
import { clusterFileExposure, ConfigError, loadClusterConfig, validateClusterConfig } from '../../common/config.js';
import { tempDir } from '../support/temp-dir.js';

const good = {
  secret: randomBytes(32).toString('hex'),
  tokens: { read: randomBytes(24).toString('hex'), admin: randomBytes(24).toString('hex') },
  shards: [{ id: 's1', replicas: [{ id: 's1-a', raft: '127.0.0.1:7101', client: '127.0.0.1:7201', admin: '127.0.0.1:8101' }] }],
};
type Doc = typeof good;
const withSecret = (secret: string): Doc => ({ ...good, secret });
const withTokens = (tokens: Partial<Doc['tokens']>): Doc => ({ ...good, tokens: { ...good.tokens, ...tokens } });

function refused(t: Test, doc: unknown, field: string, detail: RegExp, what: string): void {
  try {
    validateClusterConfig(doc);
    t.fail(`${what}: accepted`);
  } catch (err) {
    t.ok(err instanceof ConfigError, `${what}: a ConfigError`);
    t.equal((err as ConfigError).code, 'CONFIG_ERR_INVALID');
    t.equal((err as ConfigError).field, field, `${what}: names ${field}`);
    t.match((err as Error).message, new RegExp(`^${field.replace('.', '\\.')}: `), `${what}: the message starts with the field`);
    t.match((err as Error).message, detail, `${what}: says why`);
  }
}

t.test('a short, repetitive or placeholder root secret is refused, naming the field', async (t) => {
  t.equal(validateClusterConfig(good).secret, good.secret, 'a generated secret is accepted');
  refused(t, withSecret('0123456789abcdef0123456789abcde'), 'secret', /at least 32 bytes, got 31/, '31 bytes');
  refused(t, withSecret(randomBytes(8).toString('hex')), 'secret', /at least 32 bytes, got 16/, '8 random bytes as hex');
  refused(t, withSecret('a'.repeat(64)), 'secret', /distinct characters/, 'one character repeated');
  refused(t, withSecret('change-me-to-32-random-bytes-of-hex'), 'secret', /placeholder.*change-me/, 'the old README value');
  refused(t, withSecret('<run: openssl rand -hex 32>'), 'secret', /placeholder/, 'the README value');
  refused(t, withSecret(`CHANGEME-${randomBytes(32).toString('hex')}`), 'secret', /placeholder/, 'a placeholder however long, any case');
  t.ok(validateClusterConfig(withSecret('é'.repeat(8) + randomBytes(12).toString('hex'))).secret, '32 bytes of UTF-8 count as 32 bytes');
});

t.test('admin tokens: long, not placeholders, distinct', async (t) => {
  refused(t, withTokens({ read: 'r' }), 'tokens.read', /at least 32 characters, got 1/, 'a one-letter read token');
  refused(t, withTokens({ admin: 'change-me-admin-token' }), 'tokens.admin', /placeholder/, 'the old README admin token');
  refused(t, withTokens({ read: '<run: openssl rand -hex 24>' }), 'tokens.read', /placeholder/, 'the README token');
  refused(t, withTokens({ admin: good.tokens.read }), 'tokens.admin', /differ from tokens\.read/, 'read = admin');
  refused(t, withTokens({ admin: good.secret }), 'tokens.admin', /differ from secret/, 'a token equal to the secret');
  refused(t, { ...good, tokens: { read: good.tokens.read } }, 'tokens.admin', /non-empty string/, 'a missing admin token');
});

t.test('the README example is refused as written and valid once filled in', async (t) => {
  const readme = readFileSync(fileURLToPath(new URL('../../README.md', import.meta.url)), 'utf8');
  const m = /### A 3-host example[^\n]*\n+```yaml\n([\s\S]*?)```/.exec(readme);
  t.ok(m, 'the README has the example');
  const doc = parseYaml(m![1]!) as Doc;
  refused(t, doc, 'secret', /placeholder/, 'the example as written');
  refused(t, { ...doc, secret: good.secret }, 'tokens.read', /placeholder/, 'the example with only the secret filled in');
  const filled = validateClusterConfig({ ...doc, secret: good.secret, tokens: good.tokens });
  t.equal(filled.shards.length, 2, 'the example with generated values is a valid cluster file');
  t.match(readme, /0600/, 'the README says the file must be 0600');
});

t.test('a local cluster file has strong secrets and is mode 0600', async (t) => {
  const dir = tempDir(t, 'secrets');
  const { path, config } = await writeLocalClusterConfig({ dir, shards: 1, replicasPerShard: 1 });
  t.equal(statSync(path).mode & 0o777, 0o600, 'written 0600');
  t.equal(clusterFileMode, 0o600);
  t.ok(Buffer.byteLength(config.secret) >= 64, 'a 32-byte secret, as hex');
  t.ok(config.tokens.read.length >= 32 && config.tokens.admin.length >= 32, 'long tokens');
  t.same(loadClusterConfig(path).secret, config.secret, 'and it loads');
  t.equal(clusterFileExposure(path), null, 'nothing to warn about');

  // Over an existing world-readable file: still 0600 (writeFileSync's mode alone would not).
  chmodSync(path, 0o644);
  t.match(clusterFileExposure(path) ?? '', /mode 0644.*chmod 600/, 'a readable file is flagged');
  const again = await writeLocalClusterConfig({ dir, shards: 1, replicasPerShard: 1 });
  t.equal(statSync(again.path).mode & 0o777, 0o600, 'rewritten 0600');
  const other = join(dir, 'other.yaml');
  writeFileSync(other, 'x', { mode: 0o666 });
  chmodSync(other, 0o666);
  writeSecretFile(other, 'secret: y');
  t.equal(statSync(other).mode & 0o777, 0o600, 'writeSecretFile narrows an existing file');
  t.equal(readFileSync(other, 'utf8'), 'secret: y');
});
