// Istio StringMatch compiled once: exact and prefix compare strings; regex is an RE2 full match
// (Envoy's safe_regex), run by re2js: linear time in the input, whatever the pattern, so a
// request cannot make a route regex backtrack (V8's RegExp is a backtracking engine).
import { createRequire } from 'node:module';
import type { RE2Set } from 're2js';
import type { StringMatchSpec } from '../config/snapshot.js';

type Re2js = typeof import('re2js');
let re2js: Re2js | null = null;
/**
 * re2js, loaded (synchronously, its CommonJS build) by the first regex compiled: a thread whose
 * config has no regex never loads it (≈ 1-2 MB of RSS per thread). Validation and route
 * compilation are synchronous, hence require() rather than import().
 */
function re2(): Re2js {
  return re2js ??= createRequire(import.meta.url)('re2js') as Re2js;
}

export const EXACT = 0;
export const PREFIX = 1;
export const REGEX = 2;

/**
 * re2js's lazy DFA gets this much memory per regex (its default is 8 MiB). A route regex's DFA
 * takes a few KiB; one whose DFA explodes (`(a|b)*a(a|b){20}`, `.*a.{30}`, `\pL{1000}`) fills any
 * budget on every request and rebuilds it state by state, the costly part in re2js: with a small
 * budget re2js gives up on the DFA early and runs its NFA, 5-25 times faster for those patterns
 * (`npm run bench:regex`), the same for the others.
 */
const DFA_BUDGET = 256 * 1024;

/**
 * `pattern` compiled as an RE2 full match. A one-pattern RE2Set, as it is re2js's way to set the
 * DFA budget (RE2JS.compile has none). Throws the RE2 syntax error (validation calls this too, so
 * the workers never meet a pattern they cannot compile).
 */
export function compileFullMatch(pattern: string): RE2Set {
  const { RE2Set: Re2Set } = re2();
  const set = new Re2Set(Re2Set.ANCHOR_BOTH, 0, DFA_BUDGET);
  set.add(pattern);
  set.compile();
  return set;
}

export class StringMatcher {
  readonly kind: number;
  readonly value: string;
  readonly re: RE2Set | null;
  /** `ignoreCase` (Istio ignoreUriCase) applies to exact and prefix only, as in Istio: a regex says (?i). */
  constructor(spec: StringMatchSpec, ignoreCase: boolean) {
    this.kind = spec.kind === 'exact' ? EXACT : spec.kind === 'prefix' ? PREFIX : REGEX;
    this.value = ignoreCase && this.kind !== REGEX ? spec.value.toLowerCase() : spec.value;
    this.re = this.kind === REGEX ? compileFullMatch(spec.value) : null;
  }

  /** `s` must already be lower-cased when an exact or prefix matcher was built with ignoreCase. */
  test(s: string): boolean {
    if (this.kind === EXACT) return s === this.value;
    if (this.kind === PREFIX) return s.startsWith(this.value);
    return (this.re as RE2Set).match(s).length > 0;
  }
}
