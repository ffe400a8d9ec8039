// gRPC in the stats: records carry the gRPC status and message counts; series split by status;
// Prometheus shows request_protocol="grpc", grpc_response_status and the message counters on gRPC
// series only (other series: request_protocol="http", grpc_response_status="").
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { StatsAggregator } from '../../../src/stats/aggregator.js';
import { collectIstioSeries, renderIstioMetrics } from '../../../src/stats/prometheus.js';
import { createRing, DIRECTION_OUTBOUND, PROTOCOL_GRPC, PROTOCOL_HTTP, RingWriter } from '../../../src/stats/ring.js';
import { GrpcFrameCounter } from '../../../src/request/grpc-frames.js';
import { cluster, listener, snapshot } from './helpers.js';

const SVC = 'echo.default.svc.cluster.local';

test('gRPC records: series by grpc status; message sums; Prometheus labels and message counters', () => {
  const agg = new StatsAggregator();
  agg.registerSnapshot(snapshot(1, [cluster(0, SVC, null)], [listener('out', 'outbound', 80)]));
  const ring = createRing(64);
  agg.addRing('w', ring);
  const w = new RingWriter(ring);
  // grpc: the status, -1 a gRPC request without one, -2 not gRPC
  const put = (status: number, grpc: number, reqMsgs: number, respMsgs: number): void => {
    const protocol = grpc === -2 ? PROTOCOL_HTTP : PROTOCOL_GRPC + 1 + grpc;
    assert.ok(w.write(1, DIRECTION_OUTBOUND, 0, -1, 0, 0, status, 0, 1000, 500, 10, 20, -1, -1, protocol, reqMsgs, respMsgs));
  };
  put(200, 0, 1, 1);
  put(200, 0, 3, 10_000);
  put(200, 14, 1, 0);
  put(200, -1, 2, 0); // gRPC, the client left before a status
  put(503, -2, 0, 0); // plain HTTP
  assert.equal(agg.drainAll(), 5);
  const series = collectIstioSeries(agg);
  const by = series.map((s) => [s.key.responseCode, s.key.labels.request_protocol, s.key.labels.grpc_response_status, s.requests, s.requestMessages, s.responseMessages]);
  assert.deepEqual(by.sort(), [[200, 'grpc', '', 1, 2, 0], [200, 'grpc', '0', 2, 4, 10_001], [200, 'grpc', '14', 1, 1, 0], [503, 'http', '', 1, 0, 0]].sort());
  const text = renderIstioMetrics(series);
  const line = (metric: string, grpc: string, proto = 'grpc', code = '200'): RegExp =>
    new RegExp(`^${metric}\\{[^}]*request_protocol="${proto}",response_code="${code}",grpc_response_status="${grpc}",response_flags="-"[^}]*\\} (\\d+)$`, 'm');
  assert.equal(line('istio_requests_total', '0').exec(text)?.[1], '2');
  assert.equal(line('istio_requests_total', '14').exec(text)?.[1], '1');
  assert.equal(line('istio_requests_total', '').exec(text)?.[1], '1');
  assert.match(text, /^istio_requests_total\{[^}]*request_protocol="http",response_code="503",grpc_response_status="",response_flags="-"[^}]*\} 1$/m);
  assert.equal(line('istio_request_messages_total', '0').exec(text)?.[1], '4');
  assert.equal(line('istio_response_messages_total', '0').exec(text)?.[1], '10001');
  assert.doesNotMatch(text, /istio_request_messages_total\{[^}]*request_protocol="http"/);
  agg.destroy();
});

test('the gRPC frame counter counts 5-byte-prefixed messages across any chunking, empty messages included', () => {
  const msg = (n: number): Buffer => Buffer.concat([Buffer.from([0, (n >>> 24) & 255, (n >>> 16) & 255, (n >>> 8) & 255, n & 255]), Buffer.alloc(n, 7)]);
  const body = Buffer.concat([msg(0), msg(3), msg(70_000), msg(1), msg(0)]);
  for (const size of [1, 2, 5, 7, 4096, body.length]) {
    const c = new GrpcFrameCounter();
    for (let i = 0; i < body.length; i += size) c.feed(body.subarray(i, i + size));
    assert.equal(c.count, 5, `chunks of ${size}`);
  }
});
