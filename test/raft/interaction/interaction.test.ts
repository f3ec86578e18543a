// Proves the Raft core's protocol behaviour through data-driven scripts (etcd testdata
// style): each testdata/*.txt drives real cores over an in-memory network with explicit
// delivery, ticks and partitions, and states the outcomes it expects (leader, terms,
// commit indexes, applied data, read states). A script fails on the first unmet
// expectation, naming its line. The last test proves that a wrong expectation does fail.
import t from 'tap';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runScript, ScriptError } from './script.js';

const dir = join(dirname(fileURLToPath(import.meta.url)), 'testdata');
const files = readdirSync(dir).filter((f) => f.endsWith('.txt')).sort();

t.ok(files.length >= 8, 'the interaction scripts are present');
for (const file of files) {
  t.test(file, async (t) => {
    const text = readFileSync(join(dir, file), 'utf8');
    t.doesNotThrow(() => runScript(text, file));
  });
}

t.test('a script expecting something wrong fails, naming its line', async (t) => {
  const wrong = ['cluster 1 2 3', 'elect 1', 'expect leader 1', 'expect term * 99'].join('\n');
  const caught = (text: string, name: string): unknown => {
    try {
      runScript(text, name);
      return null;
    } catch (err) {
      return err;
    }
  };
  const err = caught(wrong, 'wrong.txt');
  t.ok(err instanceof ScriptError, 'the wrong term expectation throws a ScriptError');
  t.match((err as Error).message, /wrong\.txt:4: expect term \* 99/, 'naming the script line');
  t.match((err as Error).message, /expected 99, got 1/, 'and what was found instead');
  const wrongLeader = ['cluster 1 2 3', 'elect 1', 'expect leader 2'].join('\n');
  t.ok(caught(wrongLeader, 'wrong-leader.txt') instanceof ScriptError, 'a wrong leader expectation throws');
});
