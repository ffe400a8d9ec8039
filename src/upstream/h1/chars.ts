// Byte and character classes shared by the h1 parser and request writer: RFC 9110 token chars,
// hex digits, and the few byte constants the state machines compare against.

export const CR = 13;
export const LF = 10;
export const SP = 32;
export const HTAB = 9;
export const COLON = 58;
export const SEMI = 59;
export const COMMA = 44;

/** 1 for tchar: "!#$%&'*+-.^_`|~" DIGIT ALPHA; 0 otherwise. */
export const TOKEN = new Uint8Array(256);
for (const c of "!#$%&'*+-.^_`|~") TOKEN[c.charCodeAt(0)] = 1;
for (let c = 48; c <= 57; c++) TOKEN[c] = 1;
for (let c = 65; c <= 90; c++) TOKEN[c] = 1;
for (let c = 97; c <= 122; c++) TOKEN[c] = 1;

/** Hex digit value, or -1. */
export const HEX = new Int8Array(256).fill(-1);
for (let c = 48; c <= 57; c++) HEX[c] = c - 48;
for (let c = 65; c <= 70; c++) HEX[c] = c - 55;
for (let c = 97; c <= 102; c++) HEX[c] = c - 87;

/** Buffer.prototype.latin1Slice exists at runtime (it backs toString('latin1')) but is not typed. */
export interface Latin1 { latin1Slice(start: number, end: number): string }

/** The bytes of an ASCII string (lowercase names for lowerEquals, or literal prefixes). */
export function asciiBytes(s: string): Uint8Array {
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
  return out;
}

/** True when b[start, start + lower.length) equals `lower` ignoring ASCII case (b holds token chars). */
export function lowerEquals(b: Uint8Array, start: number, lower: Uint8Array): boolean {
  for (let i = 0; i < lower.length; i++) {
    if ((b[start + i]! | 0x20) !== lower[i]) return false;
  }
  return true;
}

/** Header value chars undici accepts, as a table: HTAB, 0x20-0x7e, 0x80-0xff. */
export const VALUE_CHAR = new Uint8Array(256);
VALUE_CHAR[HTAB] = 1;
for (let c = 0x20; c <= 0xff; c++) if (c !== 0x7f) VALUE_CHAR[c] = 1;

/** True when `s` is a non-empty token (JS string; chars above 0x7f are never token chars). */
export function isTokenString(s: string): boolean {
  if (s.length === 0) return false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c > 127 || TOKEN[c] !== 1) return false;
  }
  return true;
}

/** Header value chars undici accepts (VALUE_CHAR: so never CR, LF or NUL). */
export function isValidHeaderValue(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c > 0xff || VALUE_CHAR[c] !== 1) return false;
  }
  return true;
}

/** Request-target chars undici accepts: 0x21-0xff (no SP, no controls). */
export function isValidPath(s: string): boolean {
  if (s.length === 0) return false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x21 || c > 0xff) return false;
  }
  return true;
}
