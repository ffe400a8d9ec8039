// What a scenario run observed (client side, meshlet's /stats/histograms, the upstreams' counts),
// the checks computed from it, and the printed summary. Pure functions: unit-tested.
import type { RouteStats } from './meshlet-stats.js';

export interface ClientStats {
  tool: string;
  requests: number;
  /** responses by status code */
  statusCounts: Record<string, number>;
  /** socket errors and timeouts (no response) */
  errors: number;
  p50Ms: number;
  p99Ms: number;
  p999Ms: number;
  /** responses that took at least `slowMs` (null: not counted) */
  slowMs: number | null;
  slow: number;
}

export interface ActionResult {
  what: string;
  atS: number;
  ok: boolean;
  output: string;
}

export interface Observed {
  /** null when the load came from k6 (its own thresholds judge it) */
  client: ClientStats | null;
  meshlet: RouteStats | null;
  /** requests each upstream received in the measured window, and up to the mid-run action */
  upstreams: Record<string, number>;
  upstreamsBeforeAction: Record<string, number> | null;
  action: ActionResult | null;
}

export interface Check {
  name: string;
  value: string;
  want: string;
  pass: boolean;
}

export const pct = (part: number, whole: number): number => (whole === 0 ? NaN : (100 * part) / whole);
const fmtPct = (v: number): string => (Number.isFinite(v) ? `${v.toFixed(2)}%` : 'n/a');

/** a share in percent that must lie in [lo, hi] */
export function shareCheck(name: string, part: number, whole: number, lo: number, hi: number): Check {
  const v = pct(part, whole);
  return { name, value: `${fmtPct(v)} (${part}/${whole})`, want: `${lo}–${hi}%`, pass: v >= lo && v <= hi };
}

export function maxCheck(name: string, value: number, max: number, unit = ''): Check {
  return { name, value: `${value}${unit}`, want: `≤ ${max}${unit}`, pass: value <= max };
}

/** responses outside 2xx plus requests without a response */
export function failed(c: ClientStats, except: number[] = []): number {
  const bad = Object.entries(c.statusCounts).filter(([code]) => !code.startsWith('2') && !except.includes(Number(code)));
  return bad.reduce((sum, [, n]) => sum + n, 0) + c.errors;
}

export function count(c: ClientStats, status: number): number {
  return c.statusCounts[String(status)] ?? 0;
}

/** per-upstream counts minus an earlier snapshot */
export function minus(a: Record<string, number>, b: Record<string, number>): Record<string, number> {
  return Object.fromEntries(Object.entries(a).map(([k, v]) => [k, v - (b[k] ?? 0)]));
}

const num = (v: number): string => (Number.isFinite(v) ? v.toFixed(2) : '–');
const list = (r: Record<string, number>): string => Object.entries(r).map(([k, v]) => `${k} ${v}`).join(' · ') || 'none';

export function renderSummary(title: string, host: string, o: Observed, checks: Check[]): string {
  const rows: string[][] = [['', 'requests', 'p50 ms', 'p99 ms', 'p99.9 ms']];
  if (o.client !== null) rows.push([`${o.client.tool} (client)`, String(o.client.requests), num(o.client.p50Ms), num(o.client.p99Ms), num(o.client.p999Ms)]);
  if (o.meshlet !== null) rows.push([`meshlet /stats/histograms (${host})`, String(o.meshlet.requests), num(o.meshlet.p50Ms), num(o.meshlet.p99Ms), num(o.meshlet.p999Ms)]);
  const widths = [0, 1, 2, 3, 4].map((i) => Math.max(...rows.map((r) => (r[i] as string).length)));
  const table = rows.map((r) => r.map((c, i) => (i === 0 ? c.padEnd(widths[i] as number) : c.padStart(widths[i] as number))).join('  '));
  const lines = [title, '', ...table, ''];
  if (o.client !== null) lines.push(`client status: ${list(o.client.statusCounts)} · no response ${o.client.errors}`);
  if (o.meshlet !== null) lines.push(`meshlet codes: ${list(o.meshlet.byCode)}; flags: ${list(o.meshlet.byFlags)}; versions: ${list(o.meshlet.byVersion)}`);
  lines.push(`upstream requests: ${list(o.upstreams)}`);
  if (o.action !== null) lines.push(`at ${o.action.atS.toFixed(1)} s: ${o.action.what}: ${o.action.ok ? 'ok' : 'FAILED'}${o.action.output === '' ? '' : `\n  ${o.action.output.trim().split('\n').join('\n  ')}`}`);
  const nameWidth = Math.max(...checks.map((c) => c.name.length));
  lines.push('', 'checks:', ...checks.map((c) => `  ${c.pass ? 'ok  ' : 'FAIL'}  ${c.name.padEnd(nameWidth)}  ${c.value}  (want ${c.want})`));
  lines.push('', checks.every((c) => c.pass) ? 'PASS' : 'FAIL');
  return `${lines.join('\n')}\n`;
}
