// Proves what `npm start` tells a user about their own softphone: the server is the SIP
// node's address (never the realm), the user and password of agent 1100, TLS with the
// certificate's fingerprint, what to dial to be called (its own service, which only
// agent 1100 serves) and what to hear. Built from a cluster file written as the launcher
// writes it; no process runs.

import { statSync } from 'node:fs';
import t from 'tap';
import { softphoneDn, softphoneHint, softphoneService } from '../../cluster/launcher.js';
import { writeLocalClusterConfig } from '../../cluster/local-cluster.js';
import { ensureSelfSignedCertificate } from '../../cluster/self-signed.js';
import { tempDir } from '../support/temp-dir.js';

t.test('the softphone hint names the server, credentials, TLS fingerprint, number and sound', async (t) => {
  const dir = tempDir(t, 'softphone-hint');
  const cert = ensureSelfSignedCertificate(dir);
  t.match(cert.fingerprint, /^([0-9A-F]{2}:){31}[0-9A-F]{2}$/, 'a SHA-256 fingerprint');
  t.equal(statSync(cert.keyPath).mode & 0o777, 0o600, 'the key is readable by its owner only');
  const { config } = await writeLocalClusterConfig({ dir, shards: 1, sipNodes: 1, services: [{ number: '5000', skill: 'support' }, softphoneService], sipTls: { cert: cert.certPath, key: cert.keyPath } });
  const sip = config.sip[0]!;
  const text = softphoneHint(config, cert.fingerprint, '/x/caller.xml').join('\n');
  t.match(text, `server/domain 127.0.0.1:${sip.udp.port}`);
  t.match(text, `TLS: 127.0.0.1:${sip.tls!.listen.port}`);
  t.match(text, `username ${softphoneDn}, password agent-${softphoneDn}`);
  t.match(text, cert.fingerprint);
  t.match(text, `dial ${softphoneService.number}`);
  t.match(text, `-s ${softphoneService.number}`);
  t.match(text, /you hear/);
  t.notMatch(text, /domain\/realm ringfence/, 'no realm where the server goes');
  t.equal(ensureSelfSignedCertificate(dir).created, false, 'a second start keeps the certificate');
  t.equal(ensureSelfSignedCertificate(dir).fingerprint, cert.fingerprint);

  const old = await writeLocalClusterConfig({ dir: `${dir}/old`, shards: 1, sipNodes: 1, services: [{ number: '5000', skill: 'support' }] });
  const oldText = softphoneHint(old.config, cert.fingerprint, '/x/caller.xml').join('\n');
  t.match(oldText, '-s 5000', 'a data directory from before service 5100 is told to call 5000');
  t.notMatch(oldText, /fingerprint/, 'and no TLS where there is none');
});
