// Certificate and token lifetimes on the command line and in requests: "30s", "10m", "24h", "7d".

const UNIT_MS = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;

/** Whole number + unit (s, m, h, d); more than zero. Throws with `what` named. */
export function parseTtlMs(value: string, what = '--ttl'): number {
  const m = /^(\d{1,9})([smhd])$/.exec(value.trim());
  const n = m === null ? 0 : Number(m[1]) * UNIT_MS[m[2] as keyof typeof UNIT_MS];
  if (m === null || n <= 0) throw new Error(`${what}: expected a lifetime like 30s, 10m, 24h or 7d, got "${value}"`);
  return n;
}

export function formatTtl(ms: number): string {
  for (const [unit, size] of [['d', UNIT_MS.d], ['h', UNIT_MS.h], ['m', UNIT_MS.m]] as const) {
    if (ms % size === 0) return `${ms / size}${unit}`;
  }
  return `${Math.round(ms / 1000)}s`;
}
