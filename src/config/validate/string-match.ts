// Istio StringMatch (`{exact|prefix|regex: string}`) and the regex rules: a regex is refused when
// istiod would refuse it (longer than 1024 bytes, or not RE2 syntax as Go's regexp parses
// it). re2js is a port of that parser; the regex is compiled here exactly as the workers will.
import { compileFullMatch } from '../../routing/string-match.js';
import type { StringMatchSpec, StringMatchKind } from '../snapshot.js';
import { describe, isMap, keyPath, type Checker } from './checker.js';

const KINDS: readonly StringMatchKind[] = ['exact', 'prefix', 'regex'];
const MAX_REGEX = 1024;

/** Reads a StringMatch with exactly one of exact/prefix/regex; null (after an error) when invalid. */
export function readStringMatch(ck: Checker, value: unknown, path: string): StringMatchSpec | null {
  if (!isMap(value)) {
    ck.error(path, `expected a StringMatch map ({exact|prefix|regex: string}), got ${describe(value)}`);
    return null;
  }
  for (const k of Object.keys(value)) {
    if (!(KINDS as readonly string[]).includes(k)) ck.warn(keyPath(path, k), 'unknown field, ignored');
  }
  const present = KINDS.filter((k) => value[k] !== undefined && value[k] !== null);
  if (present.length !== 1) {
    const found = present.length === 0 ? 'none' : present.join(' and ');
    ck.error(path, `a StringMatch must set exactly one of exact, prefix, regex (found ${found})`);
    return null;
  }
  const kind = present[0] as StringMatchKind;
  const v = value[kind];
  const at = `${path}.${kind}`;
  if (typeof v !== 'string') {
    ck.error(at, `expected a string, got ${describe(v)}`);
    return null;
  }
  if (kind === 'prefix' && v === '') {
    ck.error(at, 'prefix must not be empty');
    return null;
  }
  if (kind === 'regex') {
    const problem = regexProblem(v);
    if (problem !== null) {
      ck.error(at, problem);
      return null;
    }
  }
  return { kind, value: v };
}

/** Why `re` cannot be used as an Istio regex, or null: the checks istiod makes (length, Go's RE2 parser). */
export function regexProblem(re: string): string | null {
  if (re === '') return 'regex must not be empty';
  // istiod counts bytes (Go's len): RE2's program size is at least that
  const bytes = Buffer.byteLength(re, 'utf8');
  if (bytes > MAX_REGEX) return `regex is too large (${bytes} bytes, max ${MAX_REGEX})`;
  try {
    compileFullMatch(re);
  } catch (e) {
    const what = notRe2(re);
    const reason = (e as Error).message;
    return `${what === null ? 'invalid regex' : `${what} is not supported by RE2`}: ${reason}; ${SYNTAX}`;
  }
  return null;
}

const SYNTAX = 'Istio regexes use RE2 syntax (https://github.com/google/re2/wiki/Syntax)';

/** Names the Perl/JavaScript construct RE2 lacks that `re` uses (for the message only), or null. */
function notRe2(re: string): string | null {
  for (let i = 0; i < re.length; i++) {
    const c = re[i];
    if (c === '\\') {
      const n = re[i + 1] ?? '';
      if (n >= '1' && n <= '9') return `backreference \\${n}`;
      if (n === 'k' && re[i + 2] === '<') return 'named backreference \\k<…>';
      i++;
    } else if (c === '(' && re[i + 1] === '?') {
      const rest = re.slice(i + 2, i + 4);
      if (rest.startsWith('=')) return 'lookahead (?=…)';
      if (rest.startsWith('!')) return 'negative lookahead (?!…)';
      if (rest === '<=') return 'lookbehind (?<=…)';
      if (rest === '<!') return 'negative lookbehind (?<!…)';
      if (rest === 'P=') return 'named backreference (?P=…)';
      if (rest.startsWith('>')) return 'atomic group (?>…)';
      if (rest.startsWith('#')) return 'comment (?#…)';
    }
  }
  return null;
}
