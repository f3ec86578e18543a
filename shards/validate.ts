// Field checks shared by command decoding and snapshot restore. Each returns an error
// text or null, so callers can build a typed SHARD_ERR_BAD_COMMAND with the exact reason.

import * as limits from './limits.js';

export type Check = (value: unknown, field: string) => string | null;

const dnPattern = new RegExp(`^[0-9]{1,${limits.dnDigitsMax}}$`);
// Starts with a letter or digit so no key can be `__proto__` and reach an object's prototype.
const skillNamePattern = new RegExp(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,${limits.skillNameCharsMax - 1}}$`);

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export const checkDn: Check = (v, f) =>
  typeof v === 'string' && dnPattern.test(v) ? null : `${f} must be 1..${limits.dnDigitsMax} digits`;

export function checkText(charsMax: number, charsMin = 1): Check {
  return (v, f) =>
    typeof v === 'string' && v.length >= charsMin && v.length <= charsMax
      ? null
      : `${f} must be a string of ${charsMin}..${charsMax} characters`;
}

export function checkInt(min: number, max: number): Check {
  return (v, f) =>
    typeof v === 'number' && Number.isSafeInteger(v) && v >= min && v <= max
      ? null
      : `${f} must be an integer in ${min}..${max}`;
}

export function checkOneOf(values: readonly string[]): Check {
  return (v, f) => (typeof v === 'string' && values.includes(v) ? null : `${f} must be one of ${values.join(', ')}`);
}

export const checkQ: Check = (v, f) =>
  typeof v === 'number' && Number.isFinite(v) && v >= 0 && v <= 1 ? null : `${f} must be a number in 0..1`;

export const checkUri: Check = (v, f) =>
  typeof v === 'string' && v.length <= limits.contactUriCharsMax && /^sips?:[^\s]+$/i.test(v)
    ? null
    : `${f} must be a sip: or sips: URI of at most ${limits.contactUriCharsMax} characters`;

export const checkSkillName: Check = (v, f) =>
  typeof v === 'string' && skillNamePattern.test(v) ? null : `${f} must be a skill name (letters, digits, _ . -; at most ${limits.skillNameCharsMax})`;

export const checkSkills: Check = (v, f) => {
  if (!isPlainObject(v)) return `${f} must be an object of skill → level`;
  const names = Object.keys(v);
  if (names.length > limits.skillsPerAgentMax) return `${f} has more than ${limits.skillsPerAgentMax} skills`;
  for (const name of names) {
    if (!skillNamePattern.test(name)) return `${f} has an invalid skill name ${JSON.stringify(name.slice(0, 80))}`;
    const level = checkInt(0, limits.skillLevelMax)(v[name], `${f}.${name}`);
    if (level) return level;
  }
  return null;
};

export const checkCredentials: Check = (v, f) => {
  if (v === null) return null;
  if (!isPlainObject(v)) return `${f} must be null or {user, realm, ha1Md5, ha1Sha256}`;
  return checkFields(v, f, {
    user: checkText(limits.credentialUserCharsMax),
    realm: checkText(limits.credentialRealmCharsMax),
    ha1Md5: (x, g) => (typeof x === 'string' && /^[0-9a-f]{32}$/.test(x) ? null : `${g} must be 32 hex digits`),
    ha1Sha256: (x, g) => (typeof x === 'string' && /^[0-9a-f]{64}$/.test(x) ? null : `${g} must be 64 hex digits`),
  });
};

/** Checks that `obj` has exactly the fields of `spec` (no more, no fewer) and each passes. */
export function checkFields(obj: Record<string, unknown>, where: string, spec: Readonly<Record<string, Check>>): string | null {
  for (const key of Object.keys(obj)) {
    if (!Object.hasOwn(spec, key)) return `${where} has an unknown field ${JSON.stringify(key.slice(0, 80))}`;
  }
  for (const [key, check] of entriesOf(spec)) {
    if (!Object.hasOwn(obj, key)) return `${where}.${key} is missing`;
    const error = check(obj[key], `${where}.${key}`);
    if (error) return error;
  }
  return null;
}

/** A spec's entries, listed once per spec object (specs are module constants, or built
 * per call where a spec is rare), not on every proposal and entry checked. */
const specEntries = new WeakMap<object, readonly (readonly [string, Check])[]>();
function entriesOf(spec: Readonly<Record<string, Check>>): readonly (readonly [string, Check])[] {
  let entries = specEntries.get(spec);
  if (entries === undefined) specEntries.set(spec, (entries = Object.entries(spec)));
  return entries;
}
