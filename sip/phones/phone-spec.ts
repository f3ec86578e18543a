// What a phones process plays, from its flags: which DNs, and how each behaves. Pure.
//   --dns 1001-1020,1050            DN list (ranges and single numbers)
//   --behaviour answer              every phone answers
//   --behaviour answer,busy:1031-1035,no-answer:1036-1040   per-DN overrides

import { PHONES_ERR, PhonesError } from './errors.js';
import { phonesMax } from './limits.js';

export type Behaviour = 'answer' | 'busy' | 'no-answer';
const behaviours: readonly Behaviour[] = ['answer', 'busy', 'no-answer'];

export function parseDnList(spec: string): string[] {
  const out: string[] = [];
  for (const part of spec.split(',').map((p) => p.trim()).filter((p) => p !== '')) {
    const m = /^(\d{1,15})(?:-(\d{1,15}))?$/.exec(part);
    if (m === null) throw new PhonesError(PHONES_ERR.BAD_SPEC, `bad DN range ${JSON.stringify(part)} (want 1001-1020 or 1001)`);
    const from = Number(m[1]);
    const to = m[2] === undefined ? from : Number(m[2]);
    if (to < from) throw new PhonesError(PHONES_ERR.BAD_SPEC, `DN range ${part} runs backwards`);
    if (out.length + (to - from + 1) > phonesMax) throw new PhonesError(PHONES_ERR.BAD_SPEC, `more than ${phonesMax} phones`);
    const width = m[1]!.length;
    for (let n = from; n <= to; n++) out.push(String(n).padStart(width, '0'));
  }
  if (out.length === 0) throw new PhonesError(PHONES_ERR.BAD_SPEC, 'no DNs');
  if (new Set(out).size !== out.length) throw new PhonesError(PHONES_ERR.BAD_SPEC, 'a DN is listed twice');
  return out;
}

function asBehaviour(s: string): Behaviour {
  if (!(behaviours as readonly string[]).includes(s)) throw new PhonesError(PHONES_ERR.BAD_SPEC, `unknown behaviour ${JSON.stringify(s)} (answer, busy, no-answer)`);
  return s as Behaviour;
}

/** Maps every DN to its behaviour: the first bare word is the default, `word:dns` overrides. */
export function parseBehaviours(spec: string, dns: readonly string[]): Map<string, Behaviour> {
  let fallback: Behaviour = 'answer';
  const overrides = new Map<string, Behaviour>();
  // Split on commas that start a new "word" item, so "busy:1031-1035,1040" keeps its list.
  const items = spec.split(/,(?=\s*[a-z])/).map((s) => s.trim()).filter((s) => s !== '');
  for (const item of items) {
    const colon = item.indexOf(':');
    if (colon < 0) {
      fallback = asBehaviour(item);
      continue;
    }
    const b = asBehaviour(item.slice(0, colon));
    for (const dn of parseDnList(item.slice(colon + 1))) overrides.set(dn, b);
  }
  const known = new Set(dns);
  for (const dn of overrides.keys()) if (!known.has(dn)) throw new PhonesError(PHONES_ERR.BAD_SPEC, `behaviour given for DN ${dn}, which is not in --dns`);
  return new Map(dns.map((dn) => [dn, overrides.get(dn) ?? fallback]));
}
