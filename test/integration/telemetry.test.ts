// The Telemetry kind, applied by hot reload (the control socket) to a running sidecar: metric
// overrides (a metric disabled for the client side, a label removed so series merge, a literal
// label added), access logging turned on without --access-log (stdout, Istio's envoy provider)
// with a filter on the response code and the duration, and tracing's randomSamplingPercentage
// overriding --trace-sampling 0. Unknown fields are warned about, never misread.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { request } from 'undici';
import { controlRequest } from '../../src/control/control-client.js';
import { defaultControlSocket } from '../../src/control/socket-path.js';
import { startCollector, type Collector } from '../helpers/collector.js';
import { get } from '../helpers/http.js';
import { serviceEntryYaml, sidecarYaml, startMeshlet, type Meshlet } from '../helpers/meshlet.js';
import { freePort } from '../helpers/ports.js';
import { httpUpstream, type Upstream } from '../helpers/upstream.js';

let up: Upstream;
let collector: Collector;
let m: Meshlet;
let socket: string;
let base = '';

before(async () => {
  // /fail answers 503, /slow after 150 ms, anything else 200 at once
  up = await httpUpstream((req, res) => {
    req.resume();
    if (req.url === '/fail') { res.statusCode = 503; res.end('no'); return; }
    setTimeout(() => res.end('ok'), req.url === '/slow' ? 150 : 0);
  });
  collector = await startCollector();
  const port = await freePort();
  base = sidecarYaml(port) + serviceEntryYaml('tele', [{ port: up.port, labels: { app: 'tele', version: 'v1' } }, { port: up.port, labels: { app: 'tele', version: 'v2' } }]);
  m = await startMeshlet(base, {
    noSidecar: true, port,
    args: ['--workload', 'client-v1.shop', '--workload-label', 'app=client', '--trace-otlp', collector.otlpUrl, '--trace-sampling', '0', '--trace-batch-delay', '50ms'],
  });
  socket = defaultControlSocket(m.adminPort);
});

after(async () => {
  await m?.stop();
  await up?.close();
  await collector?.close();
});

async function apply(yaml: string): Promise<Record<string, unknown>> {
  const reply = await controlRequest(socket, { op: 'apply', yaml: base + yaml });
  assert.equal(reply.ok, true, JSON.stringify(reply));
  return reply;
}

async function prometheus(): Promise<string> {
  return (await request(`http://127.0.0.1:${m.adminPort}/stats/prometheus`)).body.text();
}

async function send(path: string, n: number): Promise<void> {
  for (let i = 0; i < n; i++) assert.ok([200, 503].includes((await get(`${m.url}${path}`, 'tele')).status));
}

/** The records are drained every 100 ms: poll (bounded) until `pred` holds on /stats/prometheus. */
async function untilText(pred: (text: string) => boolean): Promise<string> {
  const deadline = Date.now() + 5000;
  let text = '';
  while (Date.now() < deadline) {
    text = await prometheus();
    if (pred(text)) return text;
    await new Promise((r) => setTimeout(r, 100));
  }
  return text;
}

const sampleCount = (text: string, metric: string): number => text.split('\n').filter((l) => l.startsWith(`${metric}{`)).length;

test('metric overrides: a disabled metric disappears, a removed label merges series, a literal label is added; hot reload brings them back', async () => {
  await send('/', 40);
  const plain = await untilText((t) => /destination_version="v1"/.test(t) && /destination_version="v2"/.test(t));
  assert.ok(sampleCount(plain, 'istio_requests_total') >= 2, plain);
  const reply = await apply(`apiVersion: telemetry.istio.io/v1
kind: Telemetry
metadata: {name: mesh-default, namespace: istio-system}
spec:
  metrics:
  - providers: [{name: prometheus}]
    overrides:
    - match: {metric: REQUEST_DURATION, mode: CLIENT}
      disabled: true
    - match: {metric: REQUEST_COUNT}
      tagOverrides:
        destination_version: {operation: REMOVE}
        destination_canonical_revision: {operation: REMOVE}
        destination_workload: {operation: REMOVE}
        mesh_id: {value: "'prod-mesh'"}
        request_host: {value: "request.host"}
    unknownThing: 1
`);
  const warnings = (reply.warnings as string[]).join('\n');
  assert.match(warnings, /unknownThing.*unknown field, ignored/);
  assert.match(warnings, /request_host.*literal values only/);
  const text = await prometheus();
  assert.equal(sampleCount(text, 'istio_request_duration_milliseconds_bucket'), 0, 'REQUEST_DURATION disabled for the client reporter');
  assert.ok(sampleCount(text, 'istio_request_bytes_bucket') > 0, 'other metrics stay');
  const requests = text.split('\n').filter((l) => l.startsWith('istio_requests_total{'));
  assert.equal(requests.length, 1, `v1 and v2 merge once their distinguishing labels are removed:\n${requests.join('\n')}`);
  assert.match(requests[0] as string, /mesh_id="prod-mesh"\} 40$/);
  assert.doesNotMatch(requests[0] as string, /destination_version|request_host/);
  // the Telemetry removed again: the full label sets are back (nothing was lost)
  await apply('');
  const back = await prometheus();
  assert.ok(sampleCount(back, 'istio_requests_total') >= 2);
  assert.ok(sampleCount(back, 'istio_request_duration_milliseconds_bucket') > 0);
});

test('access logging turned on by a Telemetry (no --access-log: stdout), filtered on response code or duration', async () => {
  const before = m.output().length;
  await apply(`apiVersion: telemetry.istio.io/v1
kind: Telemetry
metadata: {name: logs, namespace: shop}
spec:
  accessLogging:
  - providers: [{name: envoy}]
    filter: {expression: "response.code >= 500 || request.duration > duration('100ms')"}
`);
  await get(`${m.url}/ok`, 'tele', { headers: { 'x-request-id': 'tele-ok' } });
  await get(`${m.url}/fail`, 'tele', { headers: { 'x-request-id': 'tele-fail' } });
  await get(`${m.url}/slow`, 'tele', { headers: { 'x-request-id': 'tele-slow' } });
  await waitForOutput(() => m.output().slice(before).includes('"x_request_id":"tele-slow"') && m.output().slice(before).includes('"x_request_id":"tele-fail"'));
  // tele-ok went first: had it been logged, its line would be in the output before the other two
  const out = m.output().slice(before);
  assert.match(out, /"response_code":503[^\n]*"x_request_id":"tele-fail"/);
  assert.doesNotMatch(out, /tele-ok/, 'a fast 200 does not pass the filter');
  // disabled again by a more specific Telemetry (workload selector)
  await apply(`apiVersion: telemetry.istio.io/v1
kind: Telemetry
metadata: {name: logs, namespace: shop}
spec:
  accessLogging: [{providers: [{name: envoy}]}]
---
apiVersion: telemetry.istio.io/v1
kind: Telemetry
metadata: {name: quiet-client, namespace: shop}
spec:
  selector: {matchLabels: {app: client}}
  accessLogging: [{disabled: true}]
`);
  const mark = m.output().length;
  await get(`${m.url}/fail`, 'tele', { headers: { 'x-request-id': 'tele-quiet' } });
  await apply(`apiVersion: telemetry.istio.io/v1
kind: Telemetry
metadata: {name: logs, namespace: shop}
spec:
  accessLogging: [{providers: [{name: envoy}]}]
`);
  await get(`${m.url}/ok`, 'tele', { headers: { 'x-request-id': 'tele-loud' } });
  await waitForOutput(() => m.output().slice(mark).includes('"x_request_id":"tele-loud"'));
  assert.doesNotMatch(m.output().slice(mark), /tele-quiet/, 'the workload-level Telemetry disabled it');
});

test('tracing: randomSamplingPercentage 100 overrides --trace-sampling 0; back to 0 by hot reload', async () => {
  await get(`${m.url}/before`, 'tele');
  await apply(`apiVersion: telemetry.istio.io/v1
kind: Telemetry
metadata: {name: mesh-default, namespace: istio-system}
spec:
  tracing: [{randomSamplingPercentage: 100}]
`);
  await get(`${m.url}/traced`, 'tele');
  const spans = await collector.waitFor((s) => s.some((x) => x.attrs['url.path'] === '/traced'), 5000);
  assert.ok(!spans.some((x) => x.attrs['url.path'] === '/before'), 'sampling 0 before the Telemetry');
  await apply(`apiVersion: telemetry.istio.io/v1
kind: Telemetry
metadata: {name: mesh-default, namespace: istio-system}
spec:
  tracing: [{randomSamplingPercentage: 0}]
`);
  const count = collector.spans.length;
  await get(`${m.url}/after`, 'tele');
  await get(`${m.url}/traced-again`, 'tele', { headers: { traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01' } });
  await collector.waitFor((s) => s.length > count, 5000);
  assert.ok(!collector.spans.some((x) => x.attrs['url.path'] === '/after'), 'not sampled at 0%');
});

test('bad Telemetry: a bad mode or metric is refused with its path (the running config keeps serving); CEL beyond the subset is warned', async () => {
  const reply = await controlRequest(socket, { op: 'apply', yaml: `${base}apiVersion: telemetry.istio.io/v1
kind: Telemetry
metadata: {name: bad}
spec:
  metrics: [{overrides: [{match: {metric: REQUEST_COUNTS, mode: SIDEWAYS}}]}]
  tracing: [{randomSamplingPercentage: 150}]
` });
  assert.equal(reply.ok, false);
  const errors = (reply.errors as string[]).join('\n');
  assert.match(errors, /spec\.metrics\[0\]\.overrides\[0\]\.match\.metric.*unknown metric REQUEST_COUNTS/);
  assert.match(errors, /spec\.tracing\[0\]\.randomSamplingPercentage.*must be in 0\.\.100/);
  assert.equal((await get(`${m.url}/`, 'tele')).status, 200);
  const warned = await controlRequest(socket, { op: 'apply', dryRun: true, yaml: `${base}apiVersion: telemetry.istio.io/v1
kind: Telemetry
metadata: {name: odd}
spec:
  accessLogging: [{filter: {expression: "request.url_path.matches('^/x')"}}, {providers: [{name: otel}]}]
` });
  assert.equal(warned.ok, true);
  const w = (warned.warnings as string[]).join('\n');
  assert.match(w, /cannot evaluate .*written without this filter/);
  assert.match(w, /provider "otel" is not available/);
});

async function waitForOutput(pred: () => boolean): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => { m.proc.stdout?.off('data', check); reject(new Error(`access log lines not seen:\n${m.output().slice(-3000)}`)); }, 5000);
    function check(): void {
      if (!pred()) return;
      clearTimeout(timer);
      m.proc.stdout?.off('data', check);
      resolve();
    }
    m.proc.stdout?.on('data', check);
    check();
  });
}
