// Istio StringMatch compiled once: exact and prefix compare strings; regex is an RE2 full match
// (Envoy's safe_regex), run by re2js: linear time in the input, whatever the pattern, so a
// request cannot make a route regex backtrack (V8's RegExp is a backtracking engine).
import { RE2JS } from 're2js';
import type { StringMatchSpec } from '../config/snapshot.js';

export const EXACT = 0;
export const PREFIX = 1;
export const REGEX = 2;

export class StringMatcher {
  readonly kind: number;
  readonly value: string;
  readonly re: RE2JS | null;
  /** `ignoreCase` (Istio ignoreUriCase) applies to exact and prefix only, as in Istio: a regex says (?i). */
  constructor(spec: StringMatchSpec, ignoreCase: boolean) {
    this.kind = spec.kind === 'exact' ? EXACT : spec.kind === 'prefix' ? PREFIX : REGEX;
    this.value = ignoreCase && this.kind !== REGEX ? spec.value.toLowerCase() : spec.value;
    this.re = this.kind === REGEX ? RE2JS.compile(spec.value) : null;
  }

  /** `s` must already be lower-cased when an exact or prefix matcher was built with ignoreCase. */
  test(s: string): boolean {
    if (this.kind === EXACT) return s === this.value;
    if (this.kind === PREFIX) return s.startsWith(this.value);
    return (this.re as RE2JS).testExact(s);
  }
}
