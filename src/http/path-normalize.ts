// Request path normalisation, once per request before routing and authorization (Istio's mesh-wide
// `pathNormalization`, Envoy's normalize_path / merge_slashes / path_with_escaped_slashes_action);
// the normalised path is also what the app receives. The fragment is dropped and `%00` refused in
// every mode. BASE (the default): percent-encoded unreserved characters decoded (`%61` → `a`,
// `%2e` → `.`), other escapes kept as sent (`%2F` stays), `\` → `/`, `.` and `..` segments
// resolved (never above the root). MERGE_SLASHES also merges `//`; DECODE_AND_MERGE_SLASHES also
// decodes `%2F` and `%5C` first. NONE forwards the path as received.
//
// Decoding happens once (as Envoy's Chromium canonicaliser) with one guard of meshlet's own: an
// escape that would become a hex digit right after a stray `%` stays encoded, so `%%32%65` cannot
// turn into a new `%2e` for the app to decode a second time.

export const PATH_NORMALIZATIONS = ['NONE', 'BASE', 'MERGE_SLASHES', 'DECODE_AND_MERGE_SLASHES'] as const;
export type PathNormalization = (typeof PATH_NORMALIZATIONS)[number];
export const DEFAULT_PATH_NORMALIZATION: PathNormalization = 'BASE';

export function isPathNormalization(value: string): value is PathNormalization {
  return (PATH_NORMALIZATIONS as readonly string[]).includes(value);
}

/** What normalizeRequestTarget rewrites: the path (no query) and the query (no `?`). */
export interface RequestTarget {
  path: string;
  query: string;
}

/**
 * Drops the fragment (from the first `#`, in the path or the query: Envoy's rule) and normalises
 * the path in place. False when the request must be refused with 400 (`%00` in the path).
 */
export function normalizeRequestTarget(t: RequestTarget, mode: PathNormalization): boolean {
  const path = t.path;
  const out = normalizePath(path, mode);
  if (out === null) return false;
  if (out !== path) {
    t.path = out;
    if (path.indexOf('#') >= 0) {
      t.query = ''; // a '?' after the '#' was part of the fragment (the HTTP/1.1 listener drops fragments itself)
      return true;
    }
  }
  const q = t.query;
  if (q !== '') {
    const hash = q.indexOf('#');
    if (hash >= 0) t.query = q.slice(0, hash);
  }
  return true;
}

// the fast path's test: a path none of these match is already normal (compiled once; V8's
// irregexp scans a short path faster than a charCodeAt loop, measured in bench/path-bench.ts)
const NEEDS_BASE = /[%\\#]|\/\./;
const NEEDS_MERGE = /[%\\#]|\/[./]/;

/**
 * The normalised form of `path` (without the query; a fragment is dropped; starts with `/`, as
 * request targets in origin-form do), or null when it holds `%00`. Returns `path` itself when there is nothing to do.
 */
export function normalizePath(path: string, mode: PathNormalization): string | null {
  if (mode === 'NONE') {
    const hash = path.indexOf('#');
    const p = hash < 0 ? path : path.slice(0, hash);
    return p.indexOf('%00') < 0 ? p : null;
  }
  const merge = mode !== 'BASE';
  if (!(merge ? NEEDS_MERGE : NEEDS_BASE).test(path) && path.charCodeAt(0) === SLASH) return path;
  return rewrite(path, mode === 'DECODE_AND_MERGE_SLASHES', merge);
}

const PERCENT = 37;
const DOT = 46;
const SLASH = 47;
const BACKSLASH = 92;

/** hex digit value of char code c, or -1 */
function hexValue(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  const l = c | 0x20;
  if (l >= 97 && l <= 102) return l - 87;
  return -1;
}

/** RFC 3986 unreserved: ALPHA / DIGIT / "-" / "." / "_" / "~" */
function isUnreserved(v: number): boolean {
  const l = v | 0x20;
  return (l >= 97 && l <= 122) || (v >= 48 && v <= 57) || v === 45 || v === DOT || v === 95 || v === 126;
}

// scratch output (UTF-16 code units); the result is never longer than the input plus a leading '/'
let out = new Uint16Array(1024);

/** The slow path: one pass of decode + `\` → `/` + dot segments up to the fragment, then slashes merged. */
function rewrite(path: string, decodeSlashes: boolean, merge: boolean): string | null {
  const hash = path.indexOf('#');
  const len = hash < 0 ? path.length : hash;
  if (out.length <= len) out = new Uint16Array(len + 1024);
  const o = out;
  o[0] = SLASH;
  let n = 1;
  let seg = 1; // where the current segment starts in o
  let i = len > 0 && (path.charCodeAt(0) === SLASH || path.charCodeAt(0) === BACKSLASH) ? 1 : 0;
  for (; i < len; i++) {
    let c = path.charCodeAt(i);
    if (c === PERCENT) {
      const v = i + 2 < len ? escapeValue(path.charCodeAt(i + 1), path.charCodeAt(i + 2)) : -1;
      if (v < 0) {
        o[n++] = PERCENT; // not an escape: kept as sent
        continue;
      }
      if (v === 0) return null;
      if (isUnreserved(v) && !(hexValue(v) >= 0 && afterStrayPercent(o, n))) {
        c = v;
      } else if (decodeSlashes && (v === SLASH || v === BACKSLASH)) {
        c = SLASH;
      } else {
        o[n++] = PERCENT; // kept, hex digits as sent (Envoy does not change their case)
        o[n++] = path.charCodeAt(i + 1);
        o[n++] = path.charCodeAt(i + 2);
        i += 2;
        continue;
      }
      i += 2;
    } else if (c === BACKSLASH) {
      c = SLASH;
    }
    if (c !== SLASH) {
      o[n++] = c;
      continue;
    }
    const closed = closeDotSegment(o, n, seg);
    if (closed >= 0) {
      n = closed; // o[n - 1] is already the '/' this one would add
    } else {
      o[n++] = SLASH;
    }
    seg = n;
  }
  const closed = closeDotSegment(o, n, seg);
  if (closed >= 0) n = closed;
  if (merge) n = mergeSlashes(o, n);
  return text(o, n);
}

function escapeValue(h: number, l: number): number {
  const hi = hexValue(h);
  const lo = hexValue(l);
  return hi < 0 || lo < 0 ? -1 : hi * 16 + lo;
}

/** Whether o[0, n) ends with a stray `%` or `%` + one hex digit (a kept escape always adds three chars). */
function afterStrayPercent(o: Uint16Array, n: number): boolean {
  return o[n - 1] === PERCENT || (n >= 2 && o[n - 2] === PERCENT && hexValue(o[n - 1] as number) >= 0);
}

/**
 * The segment o[seg, n) is `.` (removed) or `..` (removed with the segment before it, never
 * above the root): the new length, which leaves o ending in '/'; -1 for any other segment.
 */
function closeDotSegment(o: Uint16Array, n: number, seg: number): number {
  const segLen = n - seg;
  if (segLen === 1 && o[seg] === DOT) return seg;
  if (segLen !== 2 || o[seg] !== DOT || o[seg + 1] !== DOT) return -1;
  if (seg === 1) return 1;
  let j = seg - 2;
  while (o[j] !== SLASH) j--; // o[0] is '/'
  return j + 1;
}

function mergeSlashes(o: Uint16Array, n: number): number {
  let w = 1;
  for (let r = 1; r < n; r++) {
    const c = o[r] as number;
    if (c === SLASH && o[w - 1] === SLASH) continue;
    o[w++] = c;
  }
  return w;
}

const CHUNK = 4096;

function text(o: Uint16Array, n: number): string {
  if (n <= CHUNK) return String.fromCharCode.apply(null, o.subarray(0, n) as unknown as number[]);
  let s = '';
  for (let i = 0; i < n; i += CHUNK) s += String.fromCharCode.apply(null, o.subarray(i, Math.min(n, i + CHUNK)) as unknown as number[]);
  return s;
}
