// A fault reachable only from a test: loaded into a role process with `node --import`
// (before cluster/cli.ts, so nothing in the product carries it), it waits for a command
// on stdin and then raises an error nobody catches — `throw` from a timer callback, or
// `reject`, a promise rejected with no handler. test/security/last-resort.test.ts uses it
// to check what the process does with an exception that escaped every handler.
process.stdin.setEncoding('utf8');
process.stdin.on('data', (chunk: string) => {
  for (const command of chunk.split('\n')) {
    if (command === 'throw') {
      setImmediate(() => {
        throw new Error('planted fault: thrown from a timer callback');
      });
    } else if (command === 'reject') {
      void Promise.reject(new Error('planted fault: a rejection nobody handles'));
    }
  }
});
