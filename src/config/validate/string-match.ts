// Istio StringMatch (`{exact|prefix|regex: string}`) and the regex rules: Istio regexes are RE2
// full matches, while the worker runs them as JavaScript `^(?:re)$`. A regex is accepted only
// when both engines accept it and read it the same way.
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

/** Why `re` cannot be used as an Istio (RE2) full-match regex in meshlet, or null. */
export function regexProblem(re: string): string | null {
  if (re === '') return 'regex must not be empty';
  if (re.length > MAX_REGEX) return `regex is too large (${re.length} characters, max ${MAX_REGEX})`;
  const unsupported = re2Problem(re);
  if (unsupported !== null) return `${unsupported}; Istio regexes use RE2 syntax (https://github.com/google/re2/wiki/Syntax)`;
  try {
    new RegExp(`^(?:${re})$`);
  } catch (e) {
    return `invalid regex: ${(e as Error).message}`;
  }
  return null;
}

/** Constructs RE2 rejects, or that RE2 and JavaScript read differently. */
function re2Problem(re: string): string | null {
  for (let i = 0; i < re.length; i++) {
    const c = re[i];
    if (c === '\\') {
      const n = re[i + 1] ?? '';
      if (n >= '1' && n <= '9') return `backreference \\${n} is not supported by RE2`;
      if (n === 'k' && re[i + 2] === '<') return 'named backreference \\k<…> is not supported by RE2';
      if ('pPAzQEC'.includes(n) && n !== '') return `escape \\${n} is not supported by meshlet (JavaScript reads it differently from RE2)`;
      i++;
      continue;
    }
    if (c === '(' && re[i + 1] === '?') {
      const rest = re.slice(i + 2, i + 4);
      if (rest.startsWith('=')) return 'lookahead (?=…) is not supported by RE2';
      if (rest.startsWith('!')) return 'negative lookahead (?!…) is not supported by RE2';
      if (rest === '<=') return 'lookbehind (?<=…) is not supported by RE2';
      if (rest === '<!') return 'negative lookbehind (?<!…) is not supported by RE2';
      if (rest.startsWith('P')) return 'named group (?P<name>…) is not supported by meshlet; write (?<name>…)';
      if (/^\(\?[imsU-]+[:)]/.test(re.slice(i))) return 'inline flags like (?i) are not supported by meshlet (use ignoreUriCase)';
    }
    if (c === '[' && re.startsWith('[:', i + 1)) return 'POSIX classes like [[:alpha:]] are not supported by meshlet';
  }
  return null;
}
