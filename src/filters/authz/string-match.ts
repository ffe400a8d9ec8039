// Istio's authz string forms matched against a region s[start, end) of a string, so a namespace
// or principal inside a peer identity is compared in place, without slicing.
import type { AuthzStringSpec } from '../../config/security-spec.js';

export function matchRegion(m: AuthzStringSpec, s: string, start: number, end: number): boolean {
  const v = m.value;
  const len = end - start;
  switch (m.kind) {
    case 'exact':
      return len === v.length && s.startsWith(v, start);
    case 'prefix':
      return len >= v.length && s.startsWith(v, start);
    case 'suffix':
      return len >= v.length && s.startsWith(v, end - v.length);
    case 'present':
      return true;
  }
}

export function anyRegion(list: readonly AuthzStringSpec[], s: string, start: number, end: number): boolean {
  for (let i = 0; i < list.length; i++) if (matchRegion(list[i] as AuthzStringSpec, s, start, end)) return true;
  return false;
}

/** a[aStart, aStart+len) === b[bStart, bStart+len) */
export function regionEquals(a: string, aStart: number, b: string, bStart: number, len: number): boolean {
  for (let i = 0; i < len; i++) if (a.charCodeAt(aStart + i) !== b.charCodeAt(bStart + i)) return false;
  return true;
}

/** The string itself when it has no upper-case ASCII letter (no allocation), else its lower-case copy. */
export function asciiLower(s: string): string {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 65 && c <= 90) return s.toLowerCase();
  }
  return s;
}
