// Renders percentile curves as one self-contained SVG (no scripts, no external fonts or links):
// log x axis of 1/(1-p) ticked 0%, 90%, 99%…, linear latency y axis, a legend with n/p50/p99/max.
import { X_LIMIT } from './curve.js';
import type { PlotLine } from './lines.js';

export interface PlotOptions {
  title: string;
  subtitle?: string;
  /** y axis unit label (default 'ms') */
  unit?: string;
  width?: number;
  height?: number;
}

/** Distinct colours (Tableau 10); runs beyond the first are told apart by dash patterns. */
export const PALETTE = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b', '#e377c2', '#17becf', '#bcbd22', '#7f7f7f'];
const DASHES = ['', '9 4', '3 3', '12 3 3 3'];
const M = { left: 72, right: 34, top: 58, bottom: 52 };

export function escapeXml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** 0 → "0%", 1 → "90%", 2 → "99%", 3 → "99.9%"… */
export function percentileTick(decade: number): string {
  if (decade === 0) return '0%';
  const nines = '9'.repeat(decade);
  return decade <= 2 ? `${nines.padEnd(2, '0')}%` : `${nines.slice(0, 2)}.${nines.slice(2)}%`;
}

function niceStep(range: number): number {
  const raw = range / 5;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const f = raw / mag;
  return (f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10) * mag;
}

const num = (v: number): string => String(Math.round(v * 1000) / 1000);
const px = (v: number): string => v.toFixed(1);

export function renderPlot(lines: PlotLine[], opts: PlotOptions): string {
  const W = opts.width ?? 900;
  const H = opts.height ?? 560;
  const unit = opts.unit ?? 'ms';
  const pw = W - M.left - M.right;
  const ph = H - M.top - M.bottom;
  let maxCount = 1;
  let maxY = 0;
  for (const l of lines) {
    maxCount = Math.max(maxCount, l.curve.count);
    maxY = Math.max(maxY, l.curve.max);
  }
  const xMax = Math.min(X_LIMIT, Math.max(5, Math.ceil(Math.log10(maxCount))));
  const step = niceStep(maxY > 0 ? maxY : 1);
  const yMax = Math.max(step, Math.ceil((maxY * 1.02) / step) * step);
  const X = (x: number): number => M.left + (x / xMax) * pw;
  const Y = (y: number): number => M.top + ph - (y / yMax) * ph;
  const o: string[] = [];
  o.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`);
  o.push(`<title>${escapeXml(opts.title)}</title>`);
  o.push(`<rect width="${W}" height="${H}" fill="#ffffff"/>`);
  o.push(`<text x="${M.left}" y="22" font-size="16" font-weight="bold" fill="#222">${escapeXml(opts.title)}</text>`);
  if (opts.subtitle !== undefined) o.push(`<text x="${M.left}" y="40" fill="#555">${escapeXml(opts.subtitle)}</text>`);
  // grid and ticks
  for (let d = 0; d <= xMax; d++) {
    const x = px(X(d));
    o.push(`<line x1="${x}" y1="${M.top}" x2="${x}" y2="${M.top + ph}" stroke="#e3e3e3"/>`);
    o.push(`<text x="${x}" y="${M.top + ph + 18}" text-anchor="middle" fill="#333">${percentileTick(d)}</text>`);
  }
  for (let v = 0; v <= yMax + step / 1e6; v += step) {
    const y = px(Y(v));
    o.push(`<line x1="${M.left}" y1="${y}" x2="${M.left + pw}" y2="${y}" stroke="#e3e3e3"/>`);
    o.push(`<text x="${M.left - 8}" y="${y}" dy="4" text-anchor="end" fill="#333">${num(v)}</text>`);
  }
  o.push(`<rect x="${M.left}" y="${M.top}" width="${pw}" height="${ph}" fill="none" stroke="#888"/>`);
  o.push(`<text x="${M.left + pw / 2}" y="${H - 12}" text-anchor="middle" fill="#222">Percentile</text>`);
  o.push(`<text transform="translate(18 ${M.top + ph / 2}) rotate(-90)" text-anchor="middle" fill="#222">Latency (${escapeXml(unit)})</text>`);
  if (lines.length === 0) {
    o.push(`<text x="${M.left + pw / 2}" y="${M.top + ph / 2}" text-anchor="middle" font-size="16" fill="#888">no requests recorded</text>`);
  }
  // curves
  const runs: string[] = [];
  for (const l of lines) if (!runs.includes(l.run)) runs.push(l.run);
  const style = lines.map((l, i) => ({
    color: PALETTE[i % PALETTE.length] as string,
    dash: DASHES[runs.indexOf(l.run) % DASHES.length] as string,
  }));
  lines.forEach((l, i) => {
    const s = style[i] as { color: string; dash: string };
    const pts = l.curve.points.map(([x, y]) => `${px(X(x))},${px(Y(y))}`).join(' ');
    const dash = s.dash === '' ? '' : ` stroke-dasharray="${s.dash}"`;
    o.push(`<polyline fill="none" stroke="${s.color}" stroke-width="2.5" stroke-linejoin="round"${dash} points="${pts}"/>`);
    const end = l.curve.points[l.curve.points.length - 1];
    if (end !== undefined) o.push(`<circle cx="${px(X(end[0]))}" cy="${px(Y(end[1]))}" r="3.5" fill="${s.color}"/>`);
  });
  // legend, top left inside the plot (curves rise to the right)
  if (lines.length > 0) {
    const texts = lines.map((l) => `${l.run === '' ? '' : `${l.run}: `}${l.label} · n=${l.curve.count} p50=${num(l.curve.p50)} p99=${num(l.curve.p99)} max=${num(l.curve.max)} ${unit}`);
    const lw = Math.min(pw - 20, 40 + 6.6 * Math.max(...texts.map((t) => t.length)));
    const lx = M.left + 10;
    const ly = M.top + 10;
    o.push(`<rect x="${lx}" y="${ly}" width="${px(lw)}" height="${texts.length * 18 + 8}" fill="#ffffff" fill-opacity="0.9" stroke="#bbb"/>`);
    texts.forEach((t, i) => {
      const s = style[i] as { color: string; dash: string };
      const y = ly + 16 + i * 18;
      const dash = s.dash === '' ? '' : ` stroke-dasharray="${s.dash}"`;
      o.push(`<line x1="${lx + 8}" y1="${y - 4}" x2="${lx + 30}" y2="${y - 4}" stroke="${s.color}" stroke-width="2.5"${dash}/>`);
      o.push(`<text x="${lx + 36}" y="${y}" font-size="11" fill="#222">${escapeXml(t)}</text>`);
    });
  }
  o.push('</svg>');
  return `${o.join('\n')}\n`;
}
