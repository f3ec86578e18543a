// /readyz of a store (cluster/readiness.ts storeReadiness), a pure function of its groups'
// statuses: ready once every hosted group knows a leader; a failed group (its shared log
// failed) or a leaderless one is named.
import t from 'tap';
import { storeReadiness } from '../../cluster/readiness.js';
import type { RaftStatus } from '../../raft/types.js';

const st = (id: string, leader: string | null, failed: string | null = null): RaftStatus => ({ id, role: leader === id ? 'leader' : 'follower', leader, term: 2, failed }) as unknown as RaftStatus;

t.test('store readiness', async (t) => {
  t.same(storeReadiness('a', [st('s1-a', 's1-a'), st('s2-a', 's2-b')]), {
    storage: { ok: true, detail: 'writable' },
    leaders: { ok: true, detail: 'all 2 groups know a leader; 1 lead here' },
  });
  const leaderless = storeReadiness('a', [st('s1-a', 's1-a'), ...Array.from({ length: 7 }, (_, i) => st(`s${i + 2}-a`, null))]);
  t.equal(leaderless.leaders?.ok, false);
  t.equal(leaderless.leaders?.detail, '7 of 8 groups know no leader (s2-a, s3-a, s4-a, s5-a, s6-a, …)', 'names the first five');
  t.match(storeReadiness('a', [st('s1-a', 's1-a', 'RAFT_ERR_STORAGE: ENOSPC')]), { storage: { ok: false, detail: '1 of 1 groups stopped: RAFT_ERR_STORAGE: ENOSPC' } });
  t.match(storeReadiness('a', []), { leaders: { ok: false, detail: 'store a hosts no group' } });
});
