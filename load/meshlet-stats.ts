// meshlet's own view of a scenario's route, from the admin /stats/histograms document: the route's
// series (every version, code and flag) merged into one latency histogram, plus counts per
// version and per response code. Reset before the measured window so both views cover it.
import http from 'node:http';
import { build, decodeFromCompressedBase64 } from 'hdr-histogram-js';
import type { HistogramsReport } from '../src/stats/histograms-report.js';

export interface RouteStats {
  requests: number;
  p50Ms: number;
  p99Ms: number;
  p999Ms: number;
  byVersion: Record<string, number>;
  byCode: Record<string, number>;
  /** Envoy-style response flags ('-' none, 'DI' delay injected, 'FI' fault abort, 'URX' retries exhausted…) */
  byFlags: Record<string, number>;
}

/** Outbound series whose service is `host` (or `host.` + a domain), merged. */
export function routeStats(report: HistogramsReport, host: string): RouteStats {
  const total = build({ bitBucketSize: 32, autoResize: true, lowestDiscernibleValue: 1, numberOfSignificantValueDigits: 3, useWebAssembly: false });
  const out: RouteStats = { requests: 0, p50Ms: NaN, p99Ms: NaN, p999Ms: NaN, byVersion: {}, byCode: {}, byFlags: {} };
  for (const s of report.series) {
    if (s.direction !== 'outbound' || (s.service !== host && !s.service.startsWith(`${host}.`))) continue;
    out.requests += s.requests;
    const version = s.version === '' ? '-' : s.version;
    out.byVersion[version] = (out.byVersion[version] ?? 0) + s.requests;
    out.byCode[String(s.responseCode)] = (out.byCode[String(s.responseCode)] ?? 0) + s.requests;
    out.byFlags[s.responseFlags] = (out.byFlags[s.responseFlags] ?? 0) + s.requests;
    if (s.duration.histogram !== undefined && s.duration.count > 0) total.add(decodeFromCompressedBase64(s.duration.histogram, 32, false));
  }
  if (total.totalCount > 0) {
    const ms = (p: number): number => total.getValueAtPercentile(p) / 1000;
    [out.p50Ms, out.p99Ms, out.p999Ms] = [ms(50), ms(99), ms(99.9)];
  }
  return out;
}

function admin(port: number, method: 'GET' | 'POST', path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    // the admin takes a state-changing request only with this header (no web page can send it)
    const req = http.request({ host: '127.0.0.1', port, method, path, timeout: 10_000, headers: { 'x-meshlet-admin': '1' } }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => { body += d; });
      res.on('end', () => (res.statusCode === 200 ? resolve(body) : reject(new Error(`${method} ${path}: ${res.statusCode} ${body}`))));
    });
    req.once('error', reject);
    req.once('timeout', () => req.destroy(new Error(`${method} ${path}: timeout`)));
    req.end();
  });
}

export async function resetHistograms(adminPort: number): Promise<void> {
  await admin(adminPort, 'POST', '/stats/histograms/reset');
}

export async function fetchHistograms(adminPort: number): Promise<HistogramsReport> {
  return JSON.parse(await admin(adminPort, 'GET', '/stats/histograms')) as HistogramsReport;
}
