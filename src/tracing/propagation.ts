// Trace headers in and out: reads W3C traceparent/tracestate and B3 (single `b3`, multi x-b3-*)
// from the copied-out request headers by char code, continues or starts the trace with a new span
// id for this hop, and rewrites the outgoing headers in place (in the formats that arrived).
import { removeHeader } from '../http/headers.js';
import { isLowerHex, isLowerHexId, newSpanId, newTraceId, traceId128 } from './ids.js';
import type { RatioSampler } from './sampler.js';

/** bits of TraceContext.formats: which trace header formats arrived (valid or not) */
export const FORMAT_W3C = 1;
export const FORMAT_B3_SINGLE = 2;
export const FORMAT_B3_MULTI = 4;

/** an incoming sampling decision */
export const DECISION_NONE = -1;
export const DECISION_DENY = 0;
export const DECISION_ACCEPT = 1;
/** B3 debug (`b3: …-d`, `x-b3-flags: 1`): accept, and say so downstream */
export const DECISION_DEBUG = 2;

/** This hop's trace context, filled in place by propagate() (one scratch object per worker). */
export class TraceContext {
  /** 16 or 32 lower-hex characters as it arrived (32 for a trace started here) */
  traceId = '';
  /** the caller's span id; '' when the trace starts here */
  parentId = '';
  /** this hop's new span id: the parent of the request it sends upstream */
  spanId = '';
  sampled = false;
  debug = false;
  /** FORMAT_* bits of the headers that arrived */
  formats = 0;
}

// Scratch for one scan: value indexes in the flat header list (-1: absent) and the parse result.
let iTraceparent = -1;
let iTracestate = -1;
let iB3 = -1;
let iXTraceId = -1;
let iXSpanId = -1;
let iXParent = -1;
let iXSampled = -1;
let iXFlags = -1;
let pTraceId = '';
let pSpanId = '';
let pDecision = DECISION_NONE;

function scan(h: string[]): void {
  iTraceparent = iTracestate = iB3 = iXTraceId = iXSpanId = iXParent = iXSampled = iXFlags = -1;
  for (let i = 0; i < h.length; i += 2) {
    const name = h[i] as string;
    const c = name.charCodeAt(0);
    if (c === 0x74 /* t */) {
      if (name === 'traceparent') { if (iTraceparent < 0) iTraceparent = i + 1; }
      else if (name === 'tracestate') { if (iTracestate < 0) iTracestate = i + 1; }
    } else if (c === 0x62 /* b */) {
      if (name === 'b3' && iB3 < 0) iB3 = i + 1;
    } else if (c === 0x78 /* x */ && name.length >= 10 && name.charCodeAt(2) === 0x62 && name.charCodeAt(3) === 0x33 && name.charCodeAt(4) === 0x2d) {
      if (name === 'x-b3-traceid') { if (iXTraceId < 0) iXTraceId = i + 1; }
      else if (name === 'x-b3-spanid') { if (iXSpanId < 0) iXSpanId = i + 1; }
      else if (name === 'x-b3-parentspanid') { if (iXParent < 0) iXParent = i + 1; }
      else if (name === 'x-b3-sampled') { if (iXSampled < 0) iXSampled = i + 1; }
      else if (name === 'x-b3-flags') { if (iXFlags < 0) iXFlags = i + 1; }
    }
  }
}

/**
 * W3C `version-traceid-parentid-flags`; sets pTraceId, pSpanId, pDecision when valid. Version 00 is
 * exactly 55 characters; a later version may append `-…` fields, which are ignored; ff is invalid.
 */
export function parseTraceparent(v: string): boolean {
  if (v.length < 55 || !isLowerHex(v, 0, 2) || (v.charCodeAt(0) === 0x66 && v.charCodeAt(1) === 0x66)) return false;
  const v00 = v.charCodeAt(0) === 0x30 && v.charCodeAt(1) === 0x30;
  if (v00 ? v.length !== 55 : v.length > 55 && v.charCodeAt(55) !== 0x2d) return false;
  if (v.charCodeAt(2) !== 0x2d || v.charCodeAt(35) !== 0x2d || v.charCodeAt(52) !== 0x2d) return false;
  if (!isLowerHexId(v, 3, 32) || !isLowerHexId(v, 36, 16) || !isLowerHex(v, 53, 2)) return false;
  pTraceId = v.slice(3, 35);
  pSpanId = v.slice(36, 52);
  // flags: bit 0 is `sampled`
  const f = v.charCodeAt(54);
  pDecision = (f >= 0x61 ? f - 0x57 : f - 0x30) & 1 ? DECISION_ACCEPT : DECISION_DENY;
  return true;
}

function decisionChar(c: number): number {
  if (c === 0x31) return DECISION_ACCEPT;
  if (c === 0x30) return DECISION_DENY;
  if (c === 0x64) return DECISION_DEBUG;
  return -2;
}

/**
 * B3 single header: `0` | `1` | `d` (a decision alone), or `traceid-spanid[-decision[-parentspanid]]`
 * with a 16 or 32 hex trace id. Returns 1 (a context), 0 (a decision only) or -1 (invalid).
 */
export function parseB3Single(v: string): number {
  pDecision = DECISION_NONE;
  if (v.length === 1) {
    const d = decisionChar(v.charCodeAt(0));
    if (d < DECISION_DENY) return -1;
    pDecision = d;
    return 0;
  }
  const t = v.charCodeAt(16) === 0x2d ? 16 : v.charCodeAt(32) === 0x2d ? 32 : -1;
  if (t < 0 || !isLowerHexId(v, 0, t) || !isLowerHexId(v, t + 1, 16)) return -1;
  let end = t + 17;
  if (v.length > end) {
    if (v.charCodeAt(end) !== 0x2d || v.length < end + 2) return -1;
    const d = decisionChar(v.charCodeAt(end + 1));
    if (d < DECISION_DENY) return -1;
    end += 2;
    if (v.length > end && (v.length !== end + 17 || v.charCodeAt(end) !== 0x2d || !isLowerHexId(v, end + 1, 16))) return -1;
    pDecision = d;
  }
  pTraceId = v.slice(0, t);
  pSpanId = v.slice(t + 1, t + 17);
  return 1;
}

/** x-b3-sampled: `1`/`0` (and the legacy `true`/`false`); x-b3-flags: `1` is debug. */
function b3MultiDecision(h: string[]): number {
  if (iXFlags >= 0 && h[iXFlags] === '1') return DECISION_DEBUG;
  if (iXSampled < 0) return DECISION_NONE;
  const s = h[iXSampled] as string;
  if (s === '1' || s === 'true') return DECISION_ACCEPT;
  if (s === '0' || s === 'false') return DECISION_DENY;
  return DECISION_NONE;
}

function b3MultiContext(h: string[]): boolean {
  if (iXTraceId < 0 || iXSpanId < 0) return false;
  const t = h[iXTraceId] as string;
  const s = h[iXSpanId] as string;
  if (!((t.length === 16 || t.length === 32) && isLowerHexId(t, 0, t.length)) || !(s.length === 16 && isLowerHexId(s, 0, 16))) return false;
  pTraceId = t;
  pSpanId = s;
  return true;
}

function setOrAdd(h: string[], idx: number, name: string, value: string): void {
  if (idx >= 0) h[idx] = value;
  else h.push(name, value);
}

/**
 * Continues the incoming trace (W3C first, then B3 single, then B3 multi) or starts one, decides
 * sampling (an incoming decision always wins; otherwise `sampler`), and rewrites the trace headers
 * of `h` in place so that the request sent upstream has this hop's span as its parent. With no
 * trace header at all it adds `traceparent` and B3 multi headers (as Envoy's Zipkin tracer with
 * W3C propagation does). Never throws on malformed input: an invalid context starts a new trace.
 */
export function propagate(h: string[], sampler: RatioSampler, out: TraceContext): void {
  scan(h);
  let formats = 0;
  if (iTraceparent >= 0) formats |= FORMAT_W3C;
  if (iB3 >= 0) formats |= FORMAT_B3_SINGLE;
  if (iXTraceId >= 0 || iXSpanId >= 0 || iXParent >= 0 || iXSampled >= 0 || iXFlags >= 0) formats |= FORMAT_B3_MULTI;

  let found = false;
  let decision = DECISION_NONE;
  const w3cValid = iTraceparent >= 0 && parseTraceparent(h[iTraceparent] as string);
  if (w3cValid) {
    found = true;
    decision = pDecision;
  }
  if (!found && iB3 >= 0) {
    const r = parseB3Single(h[iB3] as string);
    if (r >= 0) decision = pDecision;
    found = r === 1;
  }
  if (!found && (formats & FORMAT_B3_MULTI) !== 0) {
    found = b3MultiContext(h);
    const d = b3MultiDecision(h);
    if (found || decision === DECISION_NONE) decision = d;
  }
  const traceId = found ? pTraceId : newTraceId();
  const parentId = found ? pSpanId : '';
  const spanId = newSpanId();
  const sampled = decision >= DECISION_ACCEPT || (decision === DECISION_NONE && sampler.sampled(traceId));
  const debug = decision === DECISION_DEBUG;
  out.traceId = traceId;
  out.parentId = parentId;
  out.spanId = spanId;
  out.sampled = sampled;
  out.debug = debug;
  out.formats = formats;

  if (formats === 0) {
    h.push('traceparent', `00-${traceId128(traceId)}-${spanId}-${sampled ? '01' : '00'}`,
      'x-b3-traceid', traceId, 'x-b3-spanid', spanId, 'x-b3-sampled', sampled ? '1' : '0');
    return;
  }
  if ((formats & FORMAT_W3C) !== 0) {
    h[iTraceparent] = `00-${traceId128(traceId)}-${spanId}-${sampled ? '01' : '00'}`;
  }
  if ((formats & FORMAT_B3_SINGLE) !== 0) {
    const s = debug ? 'd' : sampled ? '1' : '0';
    h[iB3] = parentId === '' ? `${traceId}-${spanId}-${s}` : `${traceId}-${spanId}-${s}-${parentId}`;
  }
  if ((formats & FORMAT_B3_MULTI) !== 0) {
    setOrAdd(h, iXTraceId, 'x-b3-traceid', traceId);
    setOrAdd(h, iXSpanId, 'x-b3-spanid', spanId);
    if (parentId !== '') setOrAdd(h, iXParent, 'x-b3-parentspanid', parentId);
    // debug implies accept: B3 says not to send x-b3-sampled beside x-b3-flags: 1
    if (!debug || iXSampled >= 0) setOrAdd(h, iXSampled, 'x-b3-sampled', sampled ? '1' : '0');
  }
  // last, as removing shifts the indexes. An invalid traceparent restarts the trace: its
  // tracestate belongs to another one (W3C); so does a stale parent id beside a new trace id.
  if (iTraceparent >= 0 && !w3cValid && iTracestate >= 0) removeHeader(h, 'tracestate');
  if (parentId === '' && iXParent >= 0) removeHeader(h, 'x-b3-parentspanid');
}
