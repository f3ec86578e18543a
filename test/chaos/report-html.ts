// The chaos run as one self-contained HTML page (inline SVG and a few lines of JS, no
// CDN): per-second bars of ok operations (or calls when SIP was in), failures (unknown
// outcomes, failed calls), vertical marks for kills (leader kills in red) and leader
// changes, and the run's summary and violations. Pure: a string from the result.
import type { ChaosResult } from './engine.js';

type Second = { atS: number; ok: number; failed: number; calls: number; callsFailed: number; queued: number };

function perSecond(r: ChaosResult): Second[] {
  const seconds = Math.ceil(r.loadMs / 1000) + 1;
  const out: Second[] = Array.from({ length: seconds }, (_, atS) => ({ atS, ok: 0, failed: 0, calls: 0, callsFailed: 0, queued: r.queueDepthPerSecond[atS] ?? 0 }));
  for (const e of r.history) {
    if (e.type === 'invoke') continue;
    const s = Math.floor((e.timeMs - r.loadStartMs) / 1000);
    const b = out[s];
    if (!b) continue;
    if (e.type === 'ok') b.ok++;
    else if (e.type === 'info') b.failed++;
  }
  for (const c of r.callsPerSecond) {
    const b = out[c.atS];
    if (!b) continue;
    b.calls += c.placed;
    b.callsFailed += c.failed;
  }
  return out;
}

const esc = (s: string): string => s.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]!);

function chart(title: string, seconds: readonly Second[], value: (s: Second) => number, fail: (s: Second) => number, r: ChaosResult): string {
  const w = 1000, h = 220, left = 50, bottom = 20, top = 10;
  const max = Math.max(1, ...seconds.map((s) => value(s) + fail(s)));
  const x = (s: number): number => left + (s / Math.max(1, seconds.length)) * (w - left - 10);
  const y = (v: number): number => h - bottom - (v / max) * (h - bottom - top);
  const bw = Math.max(1, (w - left - 10) / Math.max(1, seconds.length) - 0.5);
  const bars = seconds.map((s) => {
    const v = value(s), f = fail(s);
    return `<rect x="${x(s.atS).toFixed(1)}" y="${y(v).toFixed(1)}" width="${bw.toFixed(1)}" height="${(y(0) - y(v)).toFixed(1)}" fill="#4a90d9"><title>+${s.atS}s: ${v}</title></rect>` +
      (f > 0 ? `<rect x="${x(s.atS).toFixed(1)}" y="${y(v + f).toFixed(1)}" width="${bw.toFixed(1)}" height="${(y(v) - y(v + f)).toFixed(1)}" fill="#e8a33d"><title>+${s.atS}s: ${f} failed/unknown</title></rect>` : '');
  }).join('');
  const marks = r.timeline.map((e) => {
    const xs = x(e.atMs / 1000).toFixed(1);
    if (e.kind === 'kill') return `<line class="kill" x1="${xs}" x2="${xs}" y1="${top}" y2="${h - bottom}" stroke="${e.wasLeader ? '#d0021b' : '#7b3fa0'}" stroke-width="1.5"><title>+${(e.atMs / 1000).toFixed(1)}s SIGKILL ${esc(e.target)} (${e.fault}${e.wasLeader ? ', leader' : ''})</title></line>`;
    if (e.kind === 'leader') return `<circle class="leader" cx="${xs}" cy="${top + 4}" r="3" fill="#2e7d32"><title>+${(e.atMs / 1000).toFixed(1)}s ${e.shard} leader ${esc(e.leader ?? 'none')} term ${e.term}</title></circle>`;
    return '';
  }).join('');
  const ticks = Array.from({ length: 11 }, (_, i) => Math.round((i / 10) * (seconds.length - 1)))
    .map((s) => `<text x="${x(s).toFixed(1)}" y="${h - 4}" font-size="10" text-anchor="middle">${s}s</text>`).join('');
  return `<h2>${esc(title)}</h2><svg viewBox="0 0 ${w} ${h}" width="100%" role="img">` +
    `<text x="4" y="${top + 10}" font-size="10">${max}/s</text><line x1="${left}" x2="${w - 10}" y1="${h - bottom}" y2="${h - bottom}" stroke="#888"/>` +
    bars + marks + ticks + `</svg>`;
}

export function renderChaosHtml(r: ChaosResult, finalLine: string): string {
  const seconds = perSecond(r);
  const rows = r.timeline.filter((e) => e.kind !== 'leader').map((e) => `<tr data-kind="${e.kind}"><td>${(e.atMs / 1000).toFixed(1)}</td><td>${e.kind}</td><td>${esc(
    e.kind === 'kill' ? `${e.target} (${e.fault}${e.wasLeader ? ', leader' : ''}), down ${e.downMs} ms`
    : e.kind === 'restart' ? `${e.target} ready after ${e.tookMs} ms`
    : e.kind === 'restart-failed' ? `${e.target}: ${e.error}`
    : e.kind === 'skip' ? `step ${e.step} (${e.fault}): ${e.why}`
    : e.kind === 'evict' ? `${e.opened} sessions opened on ${e.shard} in ${e.tookMs} ms (${e.failed} failed)`
    : e.kind === 'partition' ? `${e.description} (${e.fault}), for ${e.downMs} ms`
    : e.kind === 'heal' ? `healed: ${e.description}` : '',
  )}</td></tr>`).join('');
  const leaders = r.timeline.filter((e) => e.kind === 'leader').map((e) => e.kind === 'leader' ? `<tr><td>${(e.atMs / 1000).toFixed(1)}</td><td>${e.shard}</td><td>${esc(e.leader ?? '')}</td><td>${e.term}</td></tr>` : '').join('');
  const violations = r.violationList.length === 0 ? '<p class="good">No violations.</p>' : `<ul class="bad">${r.violationList.map((v) => `<li>${esc(v)}</li>`).join('')}</ul>`;
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Ringfence chaos seed ${r.seed}</title>
<style>body{font:14px system-ui,sans-serif;margin:2em;max-width:1100px}table{border-collapse:collapse}td,th{padding:2px 8px;border-bottom:1px solid #ddd;text-align:left}
.good{color:#2e7d32}.bad{color:#d0021b}code{background:#f4f4f4;padding:2px 4px}.legend span{margin-right:1.5em}</style></head><body>
<h1>Ringfence chaos run — seed ${r.seed}, ${r.minutes} min</h1>
<p><code>${esc(finalLine)}</code></p>
<p>${r.sipIncluded ? `SIP layer in: ${r.calls} SIPp calls placed.` : `SIP layer not in (${esc(r.sipMissingWhy ?? '')}): shard-level load only, calls = 0.`}
 ${r.kills} kills (${esc(JSON.stringify(r.killsByFault))}), ${r.skippedSteps} steps skipped, ${r.leaderChanges} leader changes seen, ${r.restartsFailed} restarts failed.
 Shard load: ${r.shardLoad.grants} grants, ${r.shardLoad.denials} denials, ${r.shardLoad.unknown} unknown outcomes; history ${r.historyCounts.operations} ops, ${r.historyCounts.grantsAcknowledged} acknowledged grants judged.</p>
<p class="legend"><span style="color:#4a90d9">■ ok ops/s</span><span style="color:#e8a33d">■ unknown outcome / failed</span><span style="color:#d0021b">| leader kill</span><span style="color:#7b3fa0">| other kill</span><span style="color:#2e7d32">● leader change</span></p>
${chart('Shard operations per second', seconds, (s) => s.ok, (s) => s.failed, r)}
${r.sipIncluded ? chart('SIP calls placed per second', seconds, (s) => s.calls, (s) => s.callsFailed, r) : ''}
${r.queue === null ? '' : chart('Calls waiting in the service queue (deepest in each second)', seconds, (s) => s.queued, () => 0, r)}
<h2>Violations</h2>${violations}
${r.queue === null ? '' : `<h2>Service queue</h2><p>${r.queue.enqueued} calls queued (${r.queue.pressure.breaks} agent-break phases), ${r.queue.claims} claims, ${r.queue.answered} answered, ${r.queue.abandoned} abandoned, ${r.queue.timedOut} timed out, ${r.queue.failed} failed, ${r.queue.leaseExpired + r.queue.ownerRestarted} removed with their node; ${r.queue.directServes} calls routed without queueing.</p>
<p class="${r.queue.inversions === 0 ? 'good' : 'bad'}">Queue-order inversions outside killed nodes' callers: ${r.queue.inversions}; involving a killed node's callers: ${r.queue.inversionsKilledNode}; feed gaps: ${r.queue.feedGaps}; entries left at the end: ${r.queue.leftAtEnd.length}.</p>${r.queue.examples.length === 0 ? '' : `<ul>${r.queue.examples.map((e) => `<li>${esc(e)}</li>`).join('')}</ul>`}`}
${r.orphaned.length === 0 ? '' : `<h2>Agent calls orphaned by SIP-node kills</h2><p>Calls a killed SIP node could no longer end: the phone kept them and was offered new calls (it refused them with 486 and they were re-routed). Not counted as violations; see the run's notes.</p><ul>${r.orphaned.map((o) => `<li>${esc(o)}</li>`).join('')}</ul>`}
<h2>Nemesis</h2><label>show <select id="kind"><option value="">all</option><option>kill</option><option>restart</option><option>skip</option><option>restart-failed</option><option>partition</option><option>heal</option></select></label>
<table id="events"><tr><th>+s</th><th>event</th><th>detail</th></tr>${rows}</table>
<h2>Leaders seen</h2><table><tr><th>+s</th><th>shard</th><th>leader</th><th>term</th></tr>${leaders}</table>
<script>document.getElementById('kind').addEventListener('change',function(e){var k=e.target.value;document.querySelectorAll('#events tr[data-kind]').forEach(function(tr){tr.style.display=!k||tr.dataset.kind===k?'':'none';});});</script>
</body></html>
`;
}
