// Creates a network-namespace lab, prints its tag and waits to be killed: the netns tests
// SIGKILL it (no exit handler runs) to prove `cleanupLeftovers` removes what a killed run left.
import { createNetnsLab } from '../../cluster/netns.js';

const lab = createNetnsLab(Number(process.argv[2] ?? 2));
process.stdout.write(`${JSON.stringify({ event: 'ready', tag: lab.tag })}\n`);
setInterval(() => {}, 60_000);
