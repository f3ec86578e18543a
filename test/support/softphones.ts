// Debian's stock softphones as real agents and callers in tests: baresip (baresip-core)
// and linphonec (linphone-cli), each in its own temporary config directory, talking SIP
// and RTP on 127.0.0.1 only, driven through their own command line on stdin.
//
// - A baresip agent registers with digest, auto-answers and loops what it hears back
//   (baresip's `echo` module answers every call and wires the call's audio player to its
//   source through `aubridge`).
// - A baresip caller dials a number, sends a sine (`ausine`) and records what it hears
//   (`sndfile`: <dir>/rec/dump-*-dec.wav; what it sent: *-enc.wav).
// - A linphonec agent registers with digest and auto-answers (-a); with no sound card it
//   uses files (`soundcard use files`): it plays a WAV to the caller and records what
//   it hears to another.
// Which digest algorithm a phone answered with is read from its own trace (the
// Authorization header it sent; RFC 2617: no `algorithm` means MD5).
// Every process is killed in the test's teardown, also when the test fails.

import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

type Teardown = { teardown(fn: () => void | Promise<void>): void };
type Skippable = { skip: (...args: never[]) => unknown };

export type Softphone = 'baresip' | 'linphonec';
export type SipTransportName = 'udp' | 'tcp' | 'tls';

const baresipModules = '/usr/lib/baresip/modules';

function runs(cmd: string, args: string[]): boolean {
  const r = spawnSync(cmd, args, { stdio: 'ignore', timeout: 10_000 });
  return r.error === undefined;
}

/** Whether each softphone is installed (baresip with the modules these tests load). */
export function softphonesPresent(): Record<Softphone, boolean> {
  const modules = ['echo', 'aubridge', 'ausine', 'sndfile', 'g711', 'account', 'stdio', 'menu'];
  let haveModules = false;
  try {
    const present = new Set(readdirSync(baresipModules));
    haveModules = modules.every((m) => present.has(`${m}.so`));
  } catch {
    haveModules = false;
  }
  return { baresip: haveModules && runs('baresip', ['-h']), linphonec: runs('linphonec', ['-v']) };
}

/** True when `which` are installed. Otherwise skips the test, or throws when
 * REQUIRE_SOFTPHONES=1 (as `.ci/run` sets), so CI cannot pass without them. */
export function needSoftphones(t: Skippable, which: readonly Softphone[]): boolean {
  const present = softphonesPresent();
  const missing = which.filter((w) => !present[w]);
  if (missing.length === 0) return true;
  const how = 'apt-get install -y baresip-core linphone-cli';
  if (process.env.REQUIRE_SOFTPHONES === '1') throw new Error(`REQUIRE_SOFTPHONES=1 but ${missing.join(' and ')} not usable (${how})`);
  (t.skip as (msg: string) => void)(`${missing.join(' and ')} not installed (${how}); set REQUIRE_SOFTPHONES=1 to make this a failure`);
  return false;
}

/** The Authorization a phone sent last in a REGISTER trace → the digest algorithm. */
export function algorithmOfTrace(trace: string): string | null {
  const auths = [...trace.matchAll(/^Authorization:\s*Digest (.*)$/gim)];
  if (auths.length === 0) return null;
  const last = auths[auths.length - 1]![1]!;
  return /algorithm="?([A-Za-z0-9-]+)"?/i.exec(last)?.[1]?.toUpperCase() ?? 'MD5';
}

/** A child process whose output is kept and searched. */
class Driven {
  output = '';
  private exited = false;
  readonly done: Promise<number | null>;

  constructor(t: Teardown, readonly name: string, readonly child: ChildProcess) {
    child.stdout?.on('data', (b: Buffer) => (this.output += b.toString('latin1')));
    child.stderr?.on('data', (b: Buffer) => (this.output += b.toString('latin1')));
    child.stdin?.on('error', () => undefined);
    this.done = new Promise((resolve) => child.once('exit', (code) => {
      this.exited = true;
      resolve(code);
    }));
    const kill = (): void => {
      if (!this.exited) child.kill('SIGKILL');
    };
    process.once('exit', kill);
    t.teardown(async () => {
      kill();
      await this.done;
      process.removeListener('exit', kill);
    });
  }

  send(line: string): void {
    this.child.stdin?.write(`${line}\n`);
  }

  get running(): boolean {
    return !this.exited;
  }

  /** Resolves with the match once `re` appears in the output; rejects on `fail`, on exit,
   * or after `timeoutMs` (a guard against a hung phone, not a measurement). */
  async waitFor(re: RegExp, timeoutMs: number, fail?: RegExp): Promise<RegExpMatchArray> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const m = re.exec(this.output);
      if (m !== null) return m;
      const bad = fail?.exec(this.output);
      if (bad) throw new Error(`${this.name}: ${bad[0]}\n--- output tail:\n${this.output.slice(-3000)}`);
      if (this.exited) throw new Error(`${this.name} exited before ${re}\n--- output tail:\n${this.output.slice(-3000)}`);
      if (Date.now() > deadline) throw new Error(`${this.name}: no ${re} within ${timeoutMs} ms\n--- output tail:\n${this.output.slice(-3000)}`);
      await sleep(100);
    }
  }
}

export type Registrar = Readonly<{ host: string; port: number; transport: SipTransportName }>;

/** The account URI of a phone registering `user` at `registrar` (sips: when asked). */
function accountUri(user: string, r: Registrar, sips = false): string {
  return sips ? `sips:${user}@${r.host}:${r.port}` : `sip:${user}@${r.host}:${r.port};transport=${r.transport}`;
}

export type BaresipSpec = Readonly<{
  dir: string;
  user: string;
  /** Absent: the phone does not register (a caller). */
  password?: string;
  registrar: Registrar;
  /** Register with a sips: URI (TLS only). */
  sips?: boolean;
  /** 'echo': answer every call and loop its audio back. A number: send that tone (Hz)
   * and record what comes back. */
  audio: 'echo' | number;
  /** PEM certificate+key baresip presents when a peer connects to it over TLS. */
  tlsCertificate?: string;
}>;

export class Baresip extends Driven {
  readonly recordDir: string;

  private constructor(t: Teardown, readonly spec: BaresipSpec, child: ChildProcess) {
    super(t, `baresip ${spec.user}`, child);
    this.recordDir = join(spec.dir, 'rec');
  }

  static start(t: Teardown, spec: BaresipSpec): Baresip {
    mkdirSync(join(spec.dir, 'rec'), { recursive: true });
    const echo = spec.audio === 'echo';
    const device = `rf-${process.pid}-${spec.user}`;
    const lines = [
      ['poll_method', 'poll'],
      ['sip_listen', '127.0.0.1:0'],
      // Media on loopback too: by default baresip offers its first interface's address.
      ['net_interface', '127.0.0.1'],
      ['audio_player', `aubridge,${device}`],
      ['audio_alert', `aubridge,${device}`],
      ['audio_source', echo ? `aubridge,${device}` : `ausine,${spec.audio}`],
      // ausine makes 48 kHz stereo only; baresip resamples to the codec.
      ...(echo ? [] : [['ausrc_srate', '48000'], ['ausrc_channels', '2'], ['snd_path', join(spec.dir, 'rec')]]),
      ...(spec.tlsCertificate !== undefined ? [['sip_certificate', spec.tlsCertificate]] : []),
      ['module_path', baresipModules],
      ...['g711', 'aubridge', 'account', 'stdio', ...(echo ? [] : ['ausine', 'sndfile'])].map((m) => ['module', `${m}.so`]),
      ...(echo ? [['module_app', 'echo.so']] : []),
      ['module_app', 'menu.so'],
    ];
    writeFileSync(join(spec.dir, 'config'), lines.map(([k, v]) => `${k}\t\t${v}`).join('\n') + '\n');
    const params = spec.password === undefined ? 'regint=0' : `auth_pass=${spec.password};regint=600`;
    writeFileSync(join(spec.dir, 'accounts'), `<${accountUri(spec.user, spec.registrar, spec.sips)}>;${params};audio_codecs=PCMU\n`);
    writeFileSync(join(spec.dir, 'contacts'), '');
    // -s: SIP trace on stdout, read for the Authorization and the registration's result.
    const child = spawn('baresip', ['-f', spec.dir, '-s'], { cwd: spec.dir, stdio: ['pipe', 'pipe', 'pipe'] });
    return new Baresip(t, spec, child);
  }

  /** Waits for the registration's 200; returns the digest algorithm the phone used. */
  async registered(timeoutMs = 30_000): Promise<string> {
    await this.waitFor(/useragent registered successfully|\} 200 OK \(/, timeoutMs, /Register: [A-Za-z ]+|\} 40[0-9] [A-Za-z ]+/);
    const alg = algorithmOfTrace(this.output);
    if (alg === null) throw new Error(`${this.name} registered without an Authorization header`);
    return alg;
  }

  dial(number: string): void {
    this.send(`/dial ${number}`);
  }

  async established(timeoutMs = 30_000): Promise<void> {
    await this.waitFor(/Call established/, timeoutMs, /session closed: [^\n]*|Call with [^\n]* terminated \([^\n]*/);
  }

  /** Hangs up, waits for the call to end and quits; the recordings are complete then. */
  async hangupAndQuit(timeoutMs = 30_000): Promise<void> {
    this.send('/hangup');
    await this.waitFor(/terminated \(duration/, timeoutMs);
    this.send('/quit');
    await Promise.race([this.done, sleep(timeoutMs)]);
  }

  /** The caller's recording of what it heard (decoded audio). */
  heardPath(): string {
    const f = readdirSync(this.recordDir).find((n) => n.endsWith('-dec.wav'));
    if (f === undefined) throw new Error(`${this.name} recorded nothing in ${this.recordDir}`);
    return join(this.recordDir, f);
  }
}

export type LinphoncSpec = Readonly<{
  dir: string;
  user: string;
  password: string;
  registrar: Registrar;
  /** Its SIP and RTP ports (free ones; linphonec cannot be told to pick its own). */
  sipPort: number;
  rtpPort: number;
  /** WAV played to whoever calls; what it hears goes to <dir>/heard.wav. */
  playWav: string;
  /** Over TLS: the PEM certificate linphonec is to trust (it verifies the server's). */
  rootCa?: string;
}>;

export class Linphonec extends Driven {
  readonly heardPath: string;
  readonly logPath: string;

  private constructor(t: Teardown, readonly spec: LinphoncSpec, child: ChildProcess) {
    super(t, `linphonec ${spec.user}`, child);
    this.heardPath = join(spec.dir, 'heard.wav');
    this.logPath = join(spec.dir, 'linphone.log');
  }

  static start(t: Teardown, spec: LinphoncSpec): Linphonec {
    // liblinphone will not start without a directory for its database under $HOME.
    const home = join(spec.dir, 'home');
    mkdirSync(join(home, '.local', 'share', 'linphone'), { recursive: true });
    const via = spec.registrar.transport;
    const rc = [
      '[sip]', `sip_port=${via === 'udp' ? spec.sipPort : 0}`, `sip_tcp_port=${via === 'tcp' ? spec.sipPort : 0}`, `sip_tls_port=${via === 'tls' ? spec.sipPort : 0}`,
      ...(spec.rootCa !== undefined ? [`root_ca=${spec.rootCa}`, 'verify_server_certs=1', 'verify_server_cn=1'] : []),
      '[rtp]', `audio_rtp_port=${spec.rtpPort}`,
      // No network monitor in a container: take the network as up.
      '[net]', 'auto_net_state_mon=0',
      '[sound]', 'echocancellation=0',
    ];
    const rcPath = join(spec.dir, 'linphonerc');
    writeFileSync(rcPath, rc.join('\n') + '\n');
    const child = spawn('linphonec', ['-c', rcPath, '-a', '-d', '6', '-l', join(spec.dir, 'linphone.log')], {
      cwd: spec.dir, stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, HOME: home },
    });
    const phone = new Linphonec(t, spec, child);
    const r = spec.registrar;
    phone.send('soundcard use files');
    phone.send(`play ${spec.playWav}`);
    phone.send(`record ${phone.heardPath}`);
    phone.send(`register sip:${spec.user}@${r.host}:${r.port} sip:${r.host}:${r.port};transport=${r.transport} ${spec.password}`);
    return phone;
  }

  private log(): string {
    try {
      return readFileSync(this.logPath, 'latin1');
    } catch {
      return '';
    }
  }

  /** Waits until linphonec says it is registered; returns the digest algorithm used. */
  async registered(timeoutMs = 30_000): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    while (!/registered, identity=/.test(this.output)) {
      if (!this.running) throw new Error(`linphonec exited: ${this.output.slice(-2000)}`);
      if (Date.now() > deadline) throw new Error(`linphonec not registered within ${timeoutMs} ms: ${this.output.slice(-2000)}\n${this.log().slice(-3000)}`);
      this.send('status register');
      await sleep(300);
    }
    const alg = algorithmOfTrace(this.log());
    if (alg === null) throw new Error('linphonec registered without an Authorization header');
    return alg;
  }

  async answered(timeoutMs = 30_000): Promise<void> {
    await this.waitFor(/Media streams established/, timeoutMs);
  }

  async ended(timeoutMs = 30_000): Promise<void> {
    await this.waitFor(/Call \d+ with [^\n]* ended/, timeoutMs);
  }

  async quit(timeoutMs = 15_000): Promise<void> {
    this.send('quit');
    await Promise.race([this.done, sleep(timeoutMs)]);
  }
}
