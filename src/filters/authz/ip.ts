// IP text → 32-bit words without allocating (the request path parses the peer address once per
// authz check), and the CIDR form compiled from AuthorizationPolicy ipBlocks. IPv4-mapped IPv6
// peers (`::ffff:10.0.0.1`, as dual-stack sockets report them) also match IPv4 blocks.
import type { CidrSpec } from '../../config/security-spec.js';

const groups = new Uint16Array(8);

/**
 * Parses `s` into `out` (4 words; IPv4 uses out[0]): returns 4 or 6, or 0 when `s` is not an IP.
 * A zone suffix (`fe80::1%eth0`) is ignored.
 */
export function parseIp(s: string, out: Uint32Array): 0 | 4 | 6 {
  if (s.indexOf(':') < 0) {
    const v = parseV4(s, 0, s.length);
    if (v < 0) return 0;
    out[0] = v;
    return 4;
  }
  return parseV6(s, out) ? 6 : 0;
}

/** Dotted quad in s[start, end) → unsigned 32-bit value, or -1. */
function parseV4(s: string, start: number, end: number): number {
  let value = 0;
  let part = 0;
  let digits = 0;
  let dots = 0;
  for (let i = start; i < end; i++) {
    const c = s.charCodeAt(i);
    if (c === 46) {
      if (digits === 0 || dots === 3) return -1;
      value = value * 256 + part;
      part = 0;
      digits = 0;
      dots++;
    } else if (c >= 48 && c <= 57) {
      if (digits > 0 && part === 0) return -1; // leading zero (octal ambiguity), as Go's netip
      part = part * 10 + (c - 48);
      if (++digits > 3 || part > 255) return -1;
    } else return -1;
  }
  if (digits === 0 || dots !== 3) return -1;
  return value * 256 + part;
}

function parseV6(s: string, out: Uint32Array): boolean {
  let end = s.indexOf('%');
  if (end < 0) end = s.length;
  let n = 0; // groups written
  let gap = -1; // index in groups where '::' sits
  let i = 0;
  if (s.startsWith('::', 0)) {
    gap = 0;
    i = 2;
  }
  while (i < end) {
    // an embedded IPv4 tail takes two groups
    let j = i;
    let hex = 0;
    let value = 0;
    while (j < end) {
      const c = s.charCodeAt(j);
      const d = c >= 48 && c <= 57 ? c - 48 : c >= 97 && c <= 102 ? c - 87 : c >= 65 && c <= 70 ? c - 55 : -1;
      if (d < 0) break;
      value = value * 16 + d;
      if (++hex > 4) return false;
      j++;
    }
    if (j < end && s.charCodeAt(j) === 46) {
      const v4 = parseV4(s, i, end);
      if (v4 < 0 || n > 6) return false;
      groups[n++] = v4 >>> 16;
      groups[n++] = v4 & 0xffff;
      i = end;
      break;
    }
    if (hex === 0 || n === 8) return false;
    groups[n++] = value;
    if (j === end) {
      i = end;
      break;
    }
    if (s.charCodeAt(j) !== 58) return false;
    if (j + 1 < end && s.charCodeAt(j + 1) === 58) {
      if (gap >= 0) return false;
      gap = n;
      i = j + 2;
    } else {
      i = j + 1;
      if (i === end) return false; // trailing single ':'
    }
  }
  if (gap < 0 ? n !== 8 : n > 7) return false;
  // expand: groups after the gap move to the end
  const tail = gap < 0 ? 0 : n - gap;
  for (let k = 0; k < 8; k++) {
    let g: number;
    if (gap < 0 || k < gap) g = groups[k] as number;
    else if (k >= 8 - tail) g = groups[gap + (k - (8 - tail))] as number;
    else g = 0;
    if ((k & 1) === 0) out[k >> 1] = g * 65536;
    else out[k >> 1] = (out[k >> 1] as number) + g;
  }
  return true;
}

/** Whether the parsed address (`family` from parseIp, words in `ip`) lies in `c`. */
export function cidrContains(c: CidrSpec, family: 0 | 4 | 6, ip: Uint32Array): boolean {
  if (family === 4) return !c.v6 && (((ip[0] as number) & (c.masks[0] as number)) >>> 0) === c.words[0];
  if (family === 0) return false;
  if (!c.v6) {
    // IPv4-mapped IPv6 (::ffff:a.b.c.d) is an IPv4 peer
    if (ip[0] !== 0 || ip[1] !== 0 || ip[2] !== 0xffff) return false;
    return (((ip[3] as number) & (c.masks[0] as number)) >>> 0) === c.words[0];
  }
  for (let k = 0; k < 4; k++) {
    if ((((ip[k] as number) & (c.masks[k] as number)) >>> 0) !== c.words[k]) return false;
  }
  return true;
}

/** `10.0.0.0/8`, `2001:db8::/32` or a single IP → CidrSpec; null with a reason string when invalid. */
export function compileCidr(text: string): CidrSpec | string {
  const slash = text.indexOf('/');
  const addr = slash < 0 ? text : text.slice(0, slash);
  const ip = new Uint32Array(4);
  const family = addr.includes('%') ? 0 : parseIp(addr, ip);
  if (family === 0) return `bad IP address (${addr})`;
  const max = family === 4 ? 32 : 128;
  let bits = max;
  if (slash >= 0) {
    const b = text.slice(slash + 1);
    if (!/^\d{1,3}$/.test(b) || Number(b) > max) return `bad CIDR range (${text}): prefix length must be 0..${max}`;
    bits = Number(b);
  }
  const count = family === 4 ? 1 : 4;
  const words: number[] = [];
  const masks: number[] = [];
  for (let k = 0; k < count; k++) {
    const left = Math.max(0, Math.min(32, bits - 32 * k));
    const mask = left === 0 ? 0 : (0xffffffff << (32 - left)) >>> 0;
    masks.push(mask);
    words.push(((ip[k] as number) & mask) >>> 0);
  }
  return { v6: family === 6, words, masks, text };
}
