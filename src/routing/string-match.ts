// Istio StringMatch compiled once: exact and prefix compare strings; regex is an RE2-style full
// match, so the pattern is anchored here and never at request time.
import type { StringMatchSpec } from '../config/snapshot.js';

export const EXACT = 0;
export const PREFIX = 1;
export const REGEX = 2;

export class StringMatcher {
  readonly kind: number;
  readonly value: string;
  readonly re: RegExp | null;
  constructor(spec: StringMatchSpec, ignoreCase: boolean) {
    this.kind = spec.kind === 'exact' ? EXACT : spec.kind === 'prefix' ? PREFIX : REGEX;
    this.value = ignoreCase && this.kind !== REGEX ? spec.value.toLowerCase() : spec.value;
    this.re = this.kind === REGEX ? new RegExp(`^(?:${spec.value})$`, ignoreCase ? 'i' : '') : null;
  }

  /** `s` must already be lower-cased when the matcher was built with ignoreCase (except regex). */
  test(s: string): boolean {
    if (this.kind === EXACT) return s === this.value;
    if (this.kind === PREFIX) return s.startsWith(this.value);
    return (this.re as RegExp).test(s);
  }
}
