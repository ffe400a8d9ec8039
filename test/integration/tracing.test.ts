// Distributed tracing across two sidecars: client → sidecar A (outbound) → sidecar B (inbound) → app B.
// Both sidecars export to a local OTLP receiver; the trace that arrives (W3C or B3) is continued, each
// hop's span is the parent of the next, and unsampled traffic exports nothing. Also Zipkin v2 export,
// and a collector that is down: requests still succeed and the lost spans are counted.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { request } from 'undici';
import { startCollector, type Collector, type ReceivedSpan } from '../helpers/collector.js';
import { getJson } from '../helpers/http.js';
import { serviceEntryYaml, startMeshlet, type Meshlet } from '../helpers/meshlet.js';
import { freePort } from '../helpers/ports.js';
import { echoUpstream, type Upstream } from '../helpers/upstream.js';

interface Echo { headers: Record<string, string> }

const CLIENT_TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
const CLIENT_SPAN = '00f067aa0ba902b7';
const HEX16 = /^[0-9a-f]{16}$/;

let collector: Collector;
let appB: Upstream;
let sidecarA: Meshlet;
let sidecarB: Meshlet;

before(async () => {
  collector = await startCollector();
  appB = await echoUpstream('app-b');
  const inboundB = await freePort();
  const traceArgs = (name: string): string[] => ['--trace-otlp', collector.otlpUrl, '--trace-service-name', name, '--trace-sampling', '0', '--trace-batch-delay', '50ms'];
  sidecarB = await startMeshlet(`apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: {name: b}
spec:
  ingress:
  - port: {number: ${inboundB}, protocol: HTTP, name: http-in}
    defaultEndpoint: 127.0.0.1:${appB.port}
---
`, { noSidecar: true, args: traceArgs('svc-b') });
  sidecarA = await startMeshlet(serviceEntryYaml('app-b', [{ port: inboundB }]), { args: traceArgs('svc-a') });
});

after(async () => {
  await sidecarA?.stop();
  await sidecarB?.stop();
  await appB?.close();
  await collector?.close();
});

function spansOf(trace: string, spans: ReceivedSpan[]): { a: ReceivedSpan | undefined; b: ReceivedSpan | undefined } {
  const t = trace.padStart(32, '0');
  return {
    a: spans.find((s) => s.service === 'svc-a' && s.traceId === t),
    b: spans.find((s) => s.service === 'svc-b' && s.traceId === t),
  };
}

async function bothSpans(trace: string): Promise<{ a: ReceivedSpan; b: ReceivedSpan }> {
  const spans = await collector.waitFor((all) => { const f = spansOf(trace, all); return f.a !== undefined && f.b !== undefined; });
  return spansOf(trace, spans) as { a: ReceivedSpan; b: ReceivedSpan };
}

test('W3C: one trace over both sidecars; A is the client span\'s child, B is A\'s, app B sees B as parent', async () => {
  const r = await getJson<Echo>(`${sidecarA.url}/orders/7?x=1`, 'app-b', { headers: { traceparent: `00-${CLIENT_TRACE}-${CLIENT_SPAN}-01`, tracestate: 'vendor=abc' } });
  assert.equal(r.status, 200);
  const { a, b } = await bothSpans(CLIENT_TRACE);
  assert.equal(a.kind, 3, 'outbound listener: CLIENT');
  assert.equal(b.kind, 2, 'inbound listener: SERVER');
  assert.equal(a.parentId, CLIENT_SPAN);
  assert.match(a.spanId, HEX16);
  assert.equal(b.parentId, a.spanId);
  assert.notEqual(b.spanId, a.spanId);
  const tp = r.json.headers.traceparent as string;
  assert.equal(tp, `00-${CLIENT_TRACE}-${b.spanId}-01`);
  assert.equal(r.json.headers.tracestate, 'vendor=abc');
  assert.equal(r.json.headers['x-b3-traceid'], undefined, 'only the formats that arrived');

  // attributes
  for (const s of [a, b]) {
    assert.equal(s.attrs['http.method'], 'GET');
    assert.equal(s.attrs['url.path'], '/orders/7');
    assert.equal(s.attrs['http.status_code'], '200');
    assert.equal(s.attrs.response_flags, '-');
    assert.equal(s.attrs['guid:x-request-id'], r.json.headers['x-request-id']);
    assert.match(s.attrs.node_id ?? '', /^meshlet~/);
    assert.match(s.raw.startTimeUnixNano as string, /^\d{19}$/);
  }
  assert.match(a.attrs.upstream_address ?? '', /^127\.0\.0\.1:\d+$/);
  assert.equal(b.attrs.upstream_address, `127.0.0.1:${appB.port}`);
  assert.ok(a.attrs.upstream_cluster !== undefined && b.attrs.upstream_cluster !== undefined);
  assert.ok(collector.posts.every((p) => p.path === '/v1/traces' && p.contentType === 'application/json'));
});

test('B3 multi: continued with the same trace id; app B gets B\'s span as x-b3-spanid and A\'s as parent', async () => {
  const trace = 'a3ce929d0e0e4736';
  const r = await getJson<Echo>(`${sidecarA.url}/b3multi`, 'app-b', { headers: { 'x-b3-traceid': trace, 'x-b3-spanid': CLIENT_SPAN, 'x-b3-sampled': '1' } });
  const { a, b } = await bothSpans(trace);
  assert.equal(a.parentId, CLIENT_SPAN);
  assert.equal(b.parentId, a.spanId);
  assert.equal(r.json.headers['x-b3-traceid'], trace, '64-bit id kept as it arrived');
  assert.equal(r.json.headers['x-b3-spanid'], b.spanId);
  assert.equal(r.json.headers['x-b3-parentspanid'], a.spanId);
  assert.equal(r.json.headers['x-b3-sampled'], '1');
  assert.equal(r.json.headers.traceparent, undefined);
});

test('B3 single: continued with the same trace id', async () => {
  const trace = '5b8aa5a2d2c872e8321cf37308d69df2';
  const r = await getJson<Echo>(`${sidecarA.url}/b3single`, 'app-b', { headers: { b3: `${trace}-${CLIENT_SPAN}-1` } });
  const { a, b } = await bothSpans(trace);
  assert.equal(a.parentId, CLIENT_SPAN);
  assert.equal(b.parentId, a.spanId);
  assert.equal(r.json.headers.b3, `${trace}-${b.spanId}-1-${a.spanId}`);
});

test('sampling 0 and no trace header: the trace is started and propagated unsampled, and no span is exported', async () => {
  const r = await getJson<Echo>(`${sidecarA.url}/unsampled`, 'app-b');
  assert.equal(r.status, 200);
  const tp = r.json.headers.traceparent as string;
  assert.match(tp, /^00-[0-9a-f]{32}-[0-9a-f]{16}-00$/, 'traceparent added, not sampled');
  const trace = tp.slice(3, 35);
  assert.equal(r.json.headers['x-b3-traceid'], trace, 'and B3 multi, as Envoy does');
  assert.equal(r.json.headers['x-b3-sampled'], '0');
  // incoming sampled=0 is honoured too
  const denied = await getJson<Echo>(`${sidecarA.url}/denied`, 'app-b', { headers: { traceparent: `00-${'1'.repeat(32)}-${CLIENT_SPAN}-00` } });
  assert.equal(denied.status, 200);
  // spans queue in order: once a later sampled request's spans arrive from both sidecars, any span
  // of the earlier requests would have arrived with them or before
  const marker = 'feedfacefeedfacefeedfacefeedface';
  await getJson<Echo>(`${sidecarA.url}/marker`, 'app-b', { headers: { traceparent: `00-${marker}-${CLIENT_SPAN}-01` } });
  const spans = await bothSpans(marker);
  assert.ok(spans.a !== undefined);
  assert.equal(collector.spans.filter((s) => s.traceId === trace || s.traceId === '1'.repeat(32)).length, 0);
  assert.equal(collector.spans.filter((s) => s.attrs['url.path'] === '/unsampled' || s.attrs['url.path'] === '/denied').length, 0);
});

test('counters: exported spans appear in /stats/prometheus', async () => {
  const deadline = Date.now() + 10_000;
  let exported = 0;
  while (Date.now() < deadline) {
    const res = await request(`http://127.0.0.1:${sidecarA.adminPort}/stats/prometheus`);
    const text = await res.body.text();
    exported = Number(/^meshlet_trace_spans_exported_total (\d+)$/m.exec(text)?.[1] ?? 0);
    if (exported >= 4) {
      assert.match(text, /^meshlet_trace_spans_dropped_total 0$/m);
      break;
    }
    // workers report their counters once a second: there is no event to wait on
    await new Promise((r) => setTimeout(r, 200));
  }
  assert.ok(exported >= 4, `exported ${exported}`);
});

test('--trace-zipkin: a Zipkin v2 receiver gets the spans', async () => {
  const zipkin = await startCollector();
  const up = await echoUpstream('z');
  const m = await startMeshlet(serviceEntryYaml('zed', [{ port: up.port }]), {
    args: ['--trace-zipkin', zipkin.zipkinUrl, '--trace-service-name', 'zsvc', '--trace-sampling', '100', '--trace-batch-delay', '50ms'],
  });
  try {
    const r = await getJson<Echo>(`${m.url}/z`, 'zed');
    const trace = (r.json.headers.traceparent as string).slice(3, 35);
    assert.ok((r.json.headers.traceparent as string).endsWith('-01'), '100%: sampled');
    const spans = await zipkin.waitFor((all) => all.some((s) => s.traceId === trace));
    const s = spans.find((x) => x.traceId === trace) as ReceivedSpan;
    assert.equal(s.format, 'zipkin');
    assert.equal(s.service, 'zsvc');
    assert.equal(s.kind, 'CLIENT');
    assert.equal(s.parentId, '');
    assert.equal(s.spanId, r.json.headers['x-b3-spanid']);
    assert.equal(s.attrs['http.status_code'], '200');
    assert.equal((s.raw.remoteEndpoint as { port: number }).port, up.port);
    assert.ok(zipkin.posts.every((p) => p.path === '/api/v2/spans'));
  } finally {
    await m.stop();
    await up.close();
    await zipkin.close();
  }
});

test('a collector that is down: requests succeed, dropped spans are counted and the failure logged', async () => {
  const down = await freePort(); // nothing listens there
  const up = await echoUpstream('d');
  const m = await startMeshlet(serviceEntryYaml('dee', [{ port: up.port }]), {
    args: ['--trace-otlp', `http://127.0.0.1:${down}/v1/traces`, '--trace-sampling', '100', '--trace-batch-delay', '50ms'],
  });
  try {
    for (let i = 0; i < 5; i++) {
      const r = await getJson<Echo>(`${m.url}/d${i}`, 'dee');
      assert.equal(r.status, 200);
    }
    const deadline = Date.now() + 10_000;
    let dropped = 0;
    while (Date.now() < deadline) {
      const res = await request(`http://127.0.0.1:${m.adminPort}/stats/prometheus`);
      dropped = Number(/^meshlet_trace_spans_dropped_total (\d+)$/m.exec(await res.body.text())?.[1] ?? 0);
      if (dropped >= 5) break;
      await new Promise((r) => setTimeout(r, 200)); // counters arrive once a second
    }
    assert.equal(dropped, 5);
    assert.match(m.output(), /trace export failed; spans dropped/);
  } finally {
    await m.stop();
    await up.close();
  }
});
