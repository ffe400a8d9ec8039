// Envoy-style response flags as small fixed numbers, so a stats record can carry one in a
// Float64 slot: 0 is '-' (no flag). Codes are stable (they cross threads and may be logged);
// append new flags at the end, never renumber. Codes 17..63 are free for future flags.

export const FLAG_NONE = 0;
export const FLAG_NR = 1;
export const FLAG_NC = 2;
export const FLAG_UH = 3;
export const FLAG_UF = 4;
export const FLAG_UPE = 5;
export const FLAG_UR = 6;
export const FLAG_UT = 7;
export const FLAG_DPE = 8;
export const FLAG_IE = 9;
export const FLAG_DC = 10;
export const FLAG_URX = 11;
export const FLAG_UO = 12;
export const FLAG_DI = 13;
export const FLAG_FI = 14;
export const FLAG_RBAC = 15;
/** upstream connection termination: closed or reset after the request went out, before a response */
export const FLAG_UC = 16;

/** Codes are < MAX_FLAG_CODES (the aggregator packs status and flag into one number with it). */
export const MAX_FLAG_CODES = 64;

/** Code → name; index = code. */
export const FLAG_NAMES: readonly string[] = Object.freeze([
  '-', 'NR', 'NC', 'UH', 'UF', 'UPE', 'UR', 'UT', 'DPE', 'IE', 'DC', 'URX', 'UO', 'DI', 'FI', 'RBAC', 'UC',
]);

const BY_NAME = new Map<string, number>(FLAG_NAMES.map((name, code) => [name, code]));
BY_NAME.set('', FLAG_NONE);

/**
 * The code of one flag name ('UF', '-' or '' → 0). Returns -1 for a name without a code
 * (combinations such as "UF,URX" have none: give them a code here first).
 */
export function flagCode(name: string): number {
  return BY_NAME.get(name) ?? -1;
}

/** The name of a code; codes without a name render as `FLAG<code>` so they stay visible. */
export function flagName(code: number): string {
  return FLAG_NAMES[code] ?? `FLAG${code}`;
}
