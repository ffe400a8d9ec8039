// Span export: the OTLP JSON and Zipkin v2 bodies, and the batcher's bounds — by size, by delay,
// a full queue drops, a failing collector drops and counts — against a real local HTTP receiver.
import assert from 'node:assert/strict';
import http from 'node:http';
import type net from 'node:net';
import { once } from 'node:events';
import { test } from 'node:test';
import { FLAG_UF } from '../../../src/stats/flags.js';
import { SpanBatcher } from '../../../src/tracing/batcher.js';
import { otlpBody } from '../../../src/tracing/exporter-otlp.js';
import { JsonSpanExporter } from '../../../src/tracing/http-post.js';
import { zipkinBody } from '../../../src/tracing/exporter-zipkin.js';
import { Span, SPAN_KIND_CLIENT, SPAN_KIND_SERVER, unixNanos, type SpanSink } from '../../../src/tracing/span.js';

const nullSink: SpanSink = { add() {} };

function span(kind = SPAN_KIND_CLIENT, parent = '00f067aa0ba902b7', sink = nullSink): Span {
  const s = new Span(sink, 'a3ce929d0e0e4736', '53995c3f42cd8ad8', parent, kind, false, 'GET', '/orders/7', 'orders', 'req-1');
  return s;
}

test('unix nanoseconds as decimal strings', () => {
  assert.equal(unixNanos(1718000000000), '1718000000000000000');
  assert.equal(unixNanos(1718000000000.5), '1718000000000500000');
  assert.equal(unixNanos(1718000000000.9999999), '1718000000001000000');
  assert.equal(unixNanos(1718000000123.25), '1718000000123250000', 'a double holds epoch ms to ~0.25 µs');
});

test('OTLP JSON: resourceSpans/scopeSpans/spans, hex ids (128-bit trace), enum kind, typed attributes', () => {
  const s = span();
  s.end(503, FLAG_UF, { key: '127.0.0.1:8080' }, { name: 'outbound|80||orders' }, null);
  const root = span(SPAN_KIND_SERVER, '');
  root.end(200, 0, null, null, 'spiffe://cluster.local/ns/default/sa/web');
  const body = JSON.parse(otlpBody([s, root], 'web', 'node-1')) as any;
  const rs = body.resourceSpans[0];
  assert.deepEqual(rs.resource.attributes, [
    { key: 'service.name', value: { stringValue: 'web' } },
    { key: 'service.instance.id', value: { stringValue: 'node-1' } },
  ]);
  const [a, b] = rs.scopeSpans[0].spans;
  assert.equal(a.traceId, '0000000000000000a3ce929d0e0e4736');
  assert.equal(a.spanId, '53995c3f42cd8ad8');
  assert.equal(a.parentSpanId, '00f067aa0ba902b7');
  assert.equal(a.kind, 3);
  assert.equal(a.name, 'orders/*');
  assert.match(a.startTimeUnixNano, /^\d{19}$/);
  assert.ok(BigInt(a.endTimeUnixNano) >= BigInt(a.startTimeUnixNano));
  const attrs = Object.fromEntries(a.attributes.map((x: any) => [x.key, x.value]));
  assert.deepEqual(attrs['http.method'], { stringValue: 'GET' });
  assert.deepEqual(attrs['url.path'], { stringValue: '/orders/7' });
  assert.deepEqual(attrs['http.status_code'], { intValue: '503' });
  assert.deepEqual(attrs.response_flags, { stringValue: 'UF' });
  assert.deepEqual(attrs.upstream_address, { stringValue: '127.0.0.1:8080' });
  assert.deepEqual(attrs.upstream_cluster, { stringValue: 'outbound|80||orders' });
  assert.deepEqual(attrs['guid:x-request-id'], { stringValue: 'req-1' });
  assert.deepEqual(attrs.node_id, { stringValue: 'node-1' });
  assert.deepEqual(a.status, { code: 2 });
  assert.equal(b.kind, 2);
  assert.equal(b.parentSpanId, undefined, 'a root span has no parent');
  assert.deepEqual(b.status, { code: 0 });
  assert.ok(b.attributes.some((x: any) => x.key === 'peer.principal' && x.value.stringValue === 'spiffe://cluster.local/ns/default/sa/web'));
});

test('Zipkin v2 JSON: ids as propagated, µs timestamps, kind names, endpoints, string tags', () => {
  const s = span();
  s.end(200, 0, { key: '10.0.0.7:9080' }, { name: 'reviews' }, null);
  const [z] = JSON.parse(zipkinBody([s], 'web', 'node-1')) as any[];
  assert.equal(z.traceId, 'a3ce929d0e0e4736');
  assert.equal(z.id, '53995c3f42cd8ad8');
  assert.equal(z.parentId, '00f067aa0ba902b7');
  assert.equal(z.kind, 'CLIENT');
  assert.ok(Number.isInteger(z.timestamp) && z.timestamp > 1.6e15);
  assert.ok(Number.isInteger(z.duration) && z.duration >= 1);
  assert.deepEqual(z.localEndpoint, { serviceName: 'web' });
  assert.deepEqual(z.remoteEndpoint, { serviceName: 'reviews', ipv4: '10.0.0.7', port: 9080 });
  assert.equal(z.tags['http.status_code'], '200');
  assert.equal(z.tags['http.method'], 'GET');
  assert.equal(z.tags.error, undefined);
});

interface Receiver { port: number; bodies: unknown[]; next(): Promise<unknown>; close(): Promise<void>; status: number }

async function receiver(): Promise<Receiver> {
  const bodies: unknown[] = [];
  let waiters: ((b: unknown) => void)[] = [];
  const r: Receiver = {
    port: 0, bodies, status: 200,
    next: () => new Promise((resolve) => { waiters.push(resolve); }),
    close: () => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }),
  };
  const server = http.createServer((req, res) => {
    let data = '';
    req.setEncoding('utf8');
    req.on('data', (d: string) => { data += d; });
    req.on('end', () => {
      const body = JSON.parse(data) as unknown;
      bodies.push(body);
      res.statusCode = r.status;
      res.end();
      const w = waiters;
      waiters = [];
      for (const f of w) f(body);
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  r.port = (server.address() as net.AddressInfo).port;
  return r;
}

function spansIn(body: any): number {
  return body.resourceSpans[0].scopeSpans[0].spans.length;
}

test('batcher: a full batch leaves at once; the rest after the delay; exported counted', async () => {
  const rx = await receiver();
  const errors: Error[] = [];
  const b = new SpanBatcher(new JsonSpanExporter(`http://127.0.0.1:${rx.port}/v1/traces`, otlpBody, 'svc', 'n', 5000),
    { maxBatch: 10, maxQueue: 100, delayMs: 200 }, (err) => errors.push(err));
  const first = rx.next();
  for (let i = 0; i < 10; i++) span(SPAN_KIND_CLIENT, '', b).end(200, 0, null, null, null);
  assert.equal(spansIn(await first), 10, 'size-triggered');
  const second = rx.next();
  const t = performance.now();
  for (let i = 0; i < 3; i++) span(SPAN_KIND_CLIENT, '', b).end(200, 0, null, null, null);
  assert.equal(spansIn(await second), 3, 'delay-triggered');
  assert.ok(performance.now() - t < 2000);
  await b.shutdown(2000);
  assert.equal(b.exported, 13);
  assert.equal(b.dropped, 0);
  assert.deepEqual(errors, []);
  await rx.close();
});

test('batcher: beyond maxQueue spans are dropped; a failing or absent collector drops and logs once', async () => {
  const rx = await receiver();
  rx.status = 500;
  const logged: number[] = [];
  const b = new SpanBatcher(new JsonSpanExporter(`http://127.0.0.1:${rx.port}/v1/traces`, otlpBody, 'svc', 'n', 5000),
    { maxBatch: 1000, maxQueue: 5, delayMs: 60_000 }, (_err, dropped) => logged.push(dropped));
  for (let i = 0; i < 8; i++) span(SPAN_KIND_CLIENT, '', b).end(200, 0, null, null, null);
  assert.equal(b.queued, 5);
  assert.equal(b.dropped, 3);
  b.flush();
  await rx.next();
  await b.shutdown(2000);
  assert.equal(b.dropped, 8, 'the rejected batch counts as dropped');
  assert.equal(b.exported, 0);
  assert.deepEqual(logged, [5]);
  await rx.close();

  // nothing listens on that port any more: connection refused
  const gone = new SpanBatcher(new JsonSpanExporter(`http://127.0.0.1:${rx.port}/v1/traces`, otlpBody, 'svc', 'n', 5000),
    { maxBatch: 2, maxQueue: 100, delayMs: 60_000 }, (_err, dropped) => logged.push(dropped));
  for (let i = 0; i < 6; i++) span(SPAN_KIND_CLIENT, '', gone).end(200, 0, null, null, null);
  await gone.shutdown(5000);
  assert.equal(gone.dropped, 6);
  assert.equal(logged.length, 2, 'one log line per 10 s, however many failures');
});
