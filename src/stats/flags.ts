// Envoy's response flags as a bit set: a request carries every flag that applied to it (a delay
// injected, then a connect failure, then retries used up: DI,UF,URX) in one number, end to end —
// errors, the request record, the stats ring. Names appear only where flags leave meshlet
// (x-meshlet-flags, the access log, Prometheus labels, spans), in Envoy's rendering order. Bits
// are stable (records cross threads): append new flags, never renumber.

export const FLAG_NONE = 0;
export const FLAG_UH = 1 << 0;
export const FLAG_UT = 1 << 1;
export const FLAG_UR = 1 << 2;
export const FLAG_UF = 1 << 3;
/** upstream connection termination: closed or reset after the request went out, before a response */
export const FLAG_UC = 1 << 4;
export const FLAG_UO = 1 << 5;
export const FLAG_URX = 1 << 6;
export const FLAG_NR = 1 << 7;
export const FLAG_DI = 1 << 8;
export const FLAG_FI = 1 << 9;
export const FLAG_DC = 1 << 10;
export const FLAG_DPE = 1 << 11;
export const FLAG_UPE = 1 << 12;
export const FLAG_NC = 1 << 13;
/** meshlet's own: an AuthorizationPolicy denied the request */
export const FLAG_RBAC = 1 << 14;
/** meshlet's own: an internal error (a bug, logged) */
export const FLAG_IE = 1 << 15;

/** Every flag set fits below this (the aggregator packs status and flags into one number with it). */
export const FLAG_LIMIT = 1 << 20;

/** [bit, name] in Envoy's order (ResponseFlagUtils), then meshlet's own. */
const ORDER: readonly [number, string][] = [
  [FLAG_UH, 'UH'], [FLAG_UT, 'UT'], [FLAG_UR, 'UR'], [FLAG_UF, 'UF'], [FLAG_UC, 'UC'], [FLAG_UO, 'UO'],
  [FLAG_URX, 'URX'], [FLAG_NR, 'NR'], [FLAG_DI, 'DI'], [FLAG_FI, 'FI'], [FLAG_DC, 'DC'], [FLAG_DPE, 'DPE'],
  [FLAG_UPE, 'UPE'], [FLAG_NC, 'NC'], [FLAG_RBAC, 'RBAC'], [FLAG_IE, 'IE'],
];

const BY_NAME = new Map<string, number>(ORDER.map(([bit, name]) => [name, bit]));
const NAMES = new Map<number, string>([[FLAG_NONE, '-']]);

/** The flags of a comma-separated name list ('UF,URX'; '-' or '' → 0); -1 when a name is unknown. */
export function flagsOf(names: string): number {
  if (names === '' || names === '-') return FLAG_NONE;
  let bits = 0;
  for (const name of names.split(',')) {
    const bit = BY_NAME.get(name.trim());
    if (bit === undefined) return -1;
    bits |= bit;
  }
  return bits;
}

/** The names of a flag set in Envoy's order, comma-separated; '-' for none (built once per set). */
export function flagNames(bits: number): string {
  let s = NAMES.get(bits);
  if (s === undefined) {
    const parts: string[] = [];
    let known = 0;
    for (const [bit, name] of ORDER) {
      if ((bits & bit) !== 0) parts.push(name);
      known |= bit;
    }
    if ((bits & ~known) !== 0) parts.push(`FLAGS${bits & ~known}`); // a bit without a name stays visible
    s = parts.join(',');
    NAMES.set(bits, s);
  }
  return s;
}
