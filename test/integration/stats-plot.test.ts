// Latency pictures from live traffic: `meshlet stats --histograms --format hlog` reads back with
// hdr-histogram-js's HistogramLogReader and matches /stats/histograms; `meshlet stats --plot` and
// GET /stats/plot draw one line per route (and overlay runs with --from), rendered by Chromium.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { HistogramLogReader } from 'hdr-histogram-js';
import { request } from 'undici';
import { keyOfTag } from '../../src/stats/hlog.js';
import { PALETTE } from '../../src/stats/plot/svg.js';
import { chromiumInstalled, screenshot } from '../helpers/chromium.js';
import { runMeshletExpectingExit, serviceEntryYaml, startMeshlet, type Meshlet } from '../helpers/meshlet.js';
import { colourCounts, nonWhitePixels } from '../helpers/png.js';
import { httpUpstream, type Upstream } from '../helpers/upstream.js';

const PER_ROUTE = 200;
const dir = mkdtempSync(path.join(os.tmpdir(), 'meshlet-plot-'));
let fast: Upstream;
let slow: Upstream;
let m: Meshlet;

interface Series { direction: string; service: string; version: string; responseCode: number; responseFlags: string; duration: { count: number; p50: number; p99: number; max: number } }

before(async () => {
  fast = await httpUpstream((req, res) => { req.resume(); res.end('fast'); });
  slow = await httpUpstream((req, res) => { req.resume(); setTimeout(() => res.end('slow'), 4); });
  m = await startMeshlet(serviceEntryYaml('svc-fast', [{ port: fast.port }]) + serviceEntryYaml('svc-slow', [{ port: slow.port }]));
  for (const host of ['svc-fast', 'svc-slow']) {
    for (let i = 0; i < PER_ROUTE; i += 10) {
      await Promise.all(Array.from({ length: 10 }, async () => {
        const res = await request(`${m.url}/`, { headers: { host } });
        await res.body.text();
        assert.equal(res.statusCode, 200);
      }));
    }
  }
});

after(async () => {
  await m?.stop();
  await fast?.close();
  await slow?.close();
  rmSync(dir, { recursive: true, force: true });
});

async function admin(p: string): Promise<{ status: number; type: string; body: string }> {
  const res = await request(`http://127.0.0.1:${m.adminPort}${p}`);
  return { status: res.statusCode, type: String(res.headers['content-type']), body: await res.body.text() };
}

async function cli(...args: string[]): Promise<string> {
  const r = await runMeshletExpectingExit(['stats', ...args, '--admin-port', String(m.adminPort)]);
  assert.equal(r.code, 0, r.output);
  return r.output;
}

const near = (us: number, ms: number, what: string): void => assert.ok(Math.abs(us / 1000 - ms) <= Math.max(0.001, ms / 1000), `${what}: ${us / 1000} vs ${ms}`);

test('--format hlog reads back with HistogramLogReader: counts and percentiles match /stats/histograms', async () => {
  const file = path.join(dir, 'run.hlog');
  await cli('--histograms', '--format', 'hlog', '--out', file);
  const report = JSON.parse((await admin('/stats/histograms')).body) as { series: Series[] };
  const text = readFileSync(file, 'utf8');
  assert.match(text, /^"StartTimestamp","Interval_Length","Interval_Max","Interval_Compressed_Histogram"$/m);
  const reader = new HistogramLogReader(text);
  const seen = new Set<string>();
  for (let h = reader.nextIntervalHistogram(); h !== null; h = reader.nextIntervalHistogram()) {
    const key = keyOfTag(h.tag);
    assert.ok(key !== null, `meshlet tag: ${h.tag}`);
    const s = report.series.find((x) => x.direction === key.direction && x.service === key.service && x.version === key.version && x.responseCode === key.responseCode && x.responseFlags === key.responseFlags);
    assert.ok(s !== undefined, `series for ${h.tag}`);
    assert.equal(h.totalCount, s.duration.count);
    near(h.getValueAtPercentile(50), s.duration.p50, `${h.tag} p50`);
    near(h.getValueAtPercentile(99), s.duration.p99, `${h.tag} p99`);
    near(h.maxValue, s.duration.max, `${h.tag} max`);
    seen.add(s.service.split('.')[0] as string);
  }
  assert.deepEqual([...seen].sort(), ['svc-fast', 'svc-slow']);
  assert.equal(report.series.reduce((n, s) => n + s.duration.count, 0), 2 * PER_ROUTE);
});

test('meshlet stats --plot: one line per route; Chromium renders it with distinct line colours', async (t) => {
  const svgFile = path.join(dir, 'live.svg');
  assert.match(await cli('--plot', svgFile), /wrote .*live\.svg: 2 lines/);
  const svg = readFileSync(svgFile, 'utf8');
  assert.equal(svg.match(/<polyline /g)?.length, 2);
  assert.match(svg, /outbound svc-fast[.\w]* · n=200 /);
  assert.match(svg, /outbound svc-slow[.\w]* · n=200 /);
  if (!chromiumInstalled()) {
    t.skip('chromium not installed (apt-get install chromium): SVG render check skipped');
    return;
  }
  const img = await screenshot(svgFile, 900, 600);
  assert.equal(img.width, 900);
  const ink = nonWhitePixels(img);
  assert.ok(ink > 5000, `non-white pixels: ${ink}`);
  const counts = colourCounts(img, PALETTE.slice(0, 2));
  for (const [colour, n] of counts) assert.ok(n >= 150, `line colour ${colour}: ${n} pixels`);
});

test('--plot --from a.hlog --from b.json overlays runs; GET /stats/plot serves the same picture', async () => {
  const hlog = path.join(dir, 'run.hlog');
  const json = path.join(dir, 'run.json');
  await cli('--histograms', '--format', 'hlog', '--out', hlog);
  await cli('--histograms', '--format', 'json', '--out', json);
  const out = path.join(dir, 'overlay.svg');
  assert.match(await cli('--plot', out, '--from', hlog, '--from', json), /4 lines/);
  const svg = readFileSync(out, 'utf8');
  assert.equal(svg.match(/<polyline /g)?.length, 4);
  assert.ok(svg.includes('run.hlog: outbound svc-slow') && svg.includes('run.json: outbound svc-fast'));
  assert.ok(svg.includes('stroke-dasharray'), 'the second run is dashed');
  const page = await admin('/stats/plot');
  assert.equal(page.status, 200);
  assert.equal(page.type, 'image/svg+xml');
  assert.equal(page.body.match(/<polyline /g)?.length, 2);
  const bySeries = await admin('/stats/plot?interval=1&by=series');
  assert.equal(bySeries.status, 200);
  assert.match(bySeries.body, /^<svg /);
  assert.equal((await admin('/stats/plot?by=nonsense')).status, 400);
});
