// "Prometheus for real": Debian's prometheus scrapes meshlet's /stats/prometheus every second;
// after N requests through meshlet to a ~30 ms upstream, PromQL sees exactly N requests and a
// histogram_quantile(0.5) inside Istio's (25, 50] ms bucket. Skipped where prometheus is absent.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { Agent, request } from 'undici';
import { serviceEntryYaml, startMeshlet, type Meshlet } from '../helpers/meshlet.js';
import { prometheusInstalled, startPrometheus, type Prometheus } from '../helpers/prometheus.js';
import { httpUpstream, type Upstream } from '../helpers/upstream.js';

const N = 60;
const DELAY_MS = 30;
/** the Istio bucket DELAY_MS falls in, with room for meshlet's overhead on a busy machine */
const BUCKET: [number, number] = [25, 50];
const installed = prometheusInstalled();
let up: Upstream;
let m: Meshlet;
let prom: Prometheus | undefined;

before(async () => {
  if (!installed) return;
  up = await httpUpstream((req, res) => { req.resume(); setTimeout(() => res.end('ok'), DELAY_MS); });
  // warm-svc: the same upstream under another name, to warm meshlet up without touching prom-svc's series
  m = await startMeshlet(serviceEntryYaml('prom-svc', [{ port: up.port }]) + serviceEntryYaml('warm-svc', [{ port: up.port }]));
  prom = await startPrometheus(m.adminPort, '/stats/prometheus');
});

after(async () => {
  await prom?.stop();
  await m?.stop();
  await up?.close();
});

/** Polls `q` until `done(value)` or the deadline (scrapes happen every second; bounded, no fixed sleep). */
async function until(q: string, done: (v: number) => boolean, withinMs: number): Promise<number> {
  const deadline = Date.now() + withinMs;
  let last = NaN;
  while (Date.now() < deadline) {
    const r = await (prom as Prometheus).query(q);
    last = r.length === 0 ? NaN : (r[0] as [unknown, number])[1];
    if (done(last)) return last;
    await new Promise((res) => setTimeout(res, 200));
  }
  return last;
}

async function send(agent: Agent, host: string, n: number): Promise<number> {
  let ok = 0;
  for (let i = 0; i < n; i += 6) {
    await Promise.all(Array.from({ length: Math.min(6, n - i) }, async () => {
      const res = await request(`${m.url}/`, { headers: { host }, dispatcher: agent });
      await res.body.text();
      if (res.statusCode === 200) ok++;
    }));
  }
  return ok;
}

test(`Prometheus scrapes meshlet: ${N} requests counted, p50 of ~${DELAY_MS} ms in the (${BUCKET[0]}, ${BUCKET[1]}] bucket`, { timeout: 55_000 }, async (t) => {
  if (!installed) {
    t.skip('prometheus not installed (Debian: apt-get install prometheus): real-scrape check skipped');
    return;
  }
  const agent = new Agent({ connections: 6 });
  await send(agent, 'warm-svc', 60);
  assert.equal(await send(agent, 'prom-svc', N), N);
  await agent.close();
  const sel = '{destination_service_name="prom-svc",response_code="200"}';
  const total = await until(`sum(istio_requests_total${sel})`, (v) => v === N, 30_000);
  assert.equal(total, N, `sum(istio_requests_total) in Prometheus\n${prom?.output() ?? ''}`);
  const up1 = await (prom as Prometheus).query('up{job="meshlet"}');
  assert.equal(up1[0]?.[1], 1);
  const count = await (prom as Prometheus).query(`sum(istio_request_duration_milliseconds_count${sel})`);
  assert.equal(count[0]?.[1], N);
  // over the raw cumulative buckets (a rate would need two scrapes after the traffic)
  const p50 = await (prom as Prometheus).query(`histogram_quantile(0.5, sum by (le) (istio_request_duration_milliseconds_bucket${sel}))`);
  const v = p50[0]?.[1] ?? NaN;
  assert.ok(v > BUCKET[0] && v <= BUCKET[1], `histogram_quantile(0.5) = ${v} ms, expected in (${BUCKET[0]}, ${BUCKET[1]}]`);
  // and meshlet's own HDR p50 for the series lies in the same bucket
  const res = await request(`http://127.0.0.1:${m.adminPort}/stats/histograms`);
  const report = await res.body.json() as { series: { service: string; responseCode: number; duration: { p50: number } }[] };
  const own = report.series.find((s) => s.service.startsWith('prom-svc') && s.responseCode === 200)?.duration.p50 ?? NaN;
  assert.ok(own > BUCKET[0] && own <= BUCKET[1], `meshlet's own p50 ${own} ms`);
});
