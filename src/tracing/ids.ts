// Random trace and span ids as lower-case hex, cut from a crypto-random pool refilled in bulk
// (one randomFillSync and one hex encoding per 8 KiB: an id is then a string slice, not a
// randomBytes call per request); hex checks by char code.
import { randomFillSync } from 'node:crypto';

const POOL_SIZE = 8192;
const pool = Buffer.allocUnsafe(POOL_SIZE);
let poolHex = '';
let offset = POOL_SIZE;

function take(n: number): number {
  if (offset + n > POOL_SIZE) {
    randomFillSync(pool);
    poolHex = pool.toString('hex');
    offset = 0;
  }
  const at = offset;
  offset += n;
  return at;
}

function allZero(at: number, n: number): boolean {
  for (let i = at; i < at + n; i++) if (pool[i] !== 0) return false;
  return true;
}

/** 16 random bytes as 32 hex characters (never all zero: that id is invalid). */
export function newTraceId(): string {
  let at = take(16);
  while (allZero(at, 16)) at = take(16);
  return poolHex.slice(2 * at, 2 * at + 32);
}

/** 8 random bytes as 16 hex characters (never all zero). */
export function newSpanId(): string {
  let at = take(8);
  while (allZero(at, 8)) at = take(8);
  return poolHex.slice(2 * at, 2 * at + 16);
}

/** `s[from, from+len)` is lower-case hex and not all '0'. */
export function isLowerHexId(s: string, from: number, len: number): boolean {
  if (from + len > s.length) return false;
  let nonZero = false;
  for (let i = from; i < from + len; i++) {
    const c = s.charCodeAt(i);
    if (c === 0x30) continue;
    if ((c > 0x30 && c <= 0x39) || (c >= 0x61 && c <= 0x66)) nonZero = true;
    else return false;
  }
  return nonZero;
}

/** `s[from, from+len)` is lower-case hex (zeros allowed). */
export function isLowerHex(s: string, from: number, len: number): boolean {
  if (from + len > s.length) return false;
  for (let i = from; i < from + len; i++) {
    const c = s.charCodeAt(i);
    if (!((c >= 0x30 && c <= 0x39) || (c >= 0x61 && c <= 0x66))) return false;
  }
  return true;
}

/** Value of one hex digit (lower or upper case), or -1. */
export function hexDigit(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x61 && c <= 0x66) return c - 0x57;
  if (c >= 0x41 && c <= 0x46) return c - 0x37;
  return -1;
}

const ZEROS_16 = '0000000000000000';

/** A 64-bit B3 trace id left-padded to the 128 bits that W3C and OTLP require. */
export function traceId128(traceId: string): string {
  return traceId.length === 16 ? ZEROS_16 + traceId : traceId;
}
