// Connection records (TCP proxying, WebSockets) through a real ring into the aggregator and out as
// Istio's istio_tcp_* counters: opened / closed per outcome, byte deltas summed, inbound series
// named by listener, request records unaffected, exposition accepted by promtool when present.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';
import { StatsAggregator } from '../../../src/stats/aggregator.js';
import { FLAG_UF } from '../../../src/stats/flags.js';
import { renderPrometheus } from '../../../src/stats/prometheus.js';
import {
  CONN_TCP, CONN_WEBSOCKET, createRing, DIRECTION_INBOUND, DIRECTION_OUTBOUND, KIND_CONN_BYTES, KIND_CONN_CLOSE, KIND_CONN_OPEN, RingWriter,
} from '../../../src/stats/ring.js';
import { createStringTable, StringTableWriter } from '../../../src/stats/strings.js';
import { cluster, listener, put, snapshot, versionPeer } from './helpers.js';
import { parseExposition } from './prom-format.js';

function populated(): StatsAggregator {
  const agg = new StatsAggregator();
  agg.registerSnapshot(snapshot(1, [cluster(0, 'redis.shop.svc.cluster.local', 'v1', 6379)], [listener('outbound', 'outbound', 6379), listener('tcp-in', 'inbound', 7000)]));
  const ring = createRing(64);
  const table = createStringTable();
  agg.addRing('w', ring, table);
  const w = new RingWriter(ring);
  // the upstream: an endpoint labelled version v1
  const v1 = versionPeer(new StringTableWriter(table), 'v1', 'redis');
  // one long-lived connection: opened, two byte reports, closed
  w.writeConnection(1, DIRECTION_OUTBOUND, 0, 0, -1, KIND_CONN_OPEN, CONN_TCP, 0, 0, 0, v1);
  w.writeConnection(1, DIRECTION_OUTBOUND, 0, 0, -1, KIND_CONN_BYTES, CONN_TCP, 0, 100, 2000, v1);
  w.writeConnection(1, DIRECTION_OUTBOUND, 0, 0, -1, KIND_CONN_BYTES, CONN_TCP, 0, 50, 0, v1);
  w.writeConnection(1, DIRECTION_OUTBOUND, 0, 0, -1, KIND_CONN_CLOSE, CONN_TCP, 0, 7, 3, v1);
  // a refused one (connect failure): opened and closed with its flag
  w.writeConnection(1, DIRECTION_OUTBOUND, 0, 0, -1, KIND_CONN_OPEN, CONN_TCP, FLAG_UF, 0, 0);
  w.writeConnection(1, DIRECTION_OUTBOUND, 0, 0, -1, KIND_CONN_CLOSE, CONN_TCP, FLAG_UF, 0, 0);
  // a WebSocket and an inbound TCP connection
  w.writeConnection(1, DIRECTION_OUTBOUND, 0, 0, -1, KIND_CONN_OPEN, CONN_WEBSOCKET, 0, 0, 0);
  w.writeConnection(1, DIRECTION_INBOUND, 1, -1, -1, KIND_CONN_OPEN, CONN_TCP, 0, 10, 20);
  // an HTTP request record beside them
  put(w, { gen: 1, cluster: 0, status: 200, totalUs: 1000, bytesIn: 5, bytesOut: 6 });
  agg.drainAll();
  return agg;
}

test('connection records become istio_tcp_* counters per destination, protocol and flags', () => {
  const agg = populated();
  const series = agg.connectionSeries();
  const by = (protocol: string, flags: string, direction = 'outbound') => series.find((s) => s.key.protocol === protocol && s.key.responseFlags === flags && s.key.direction === direction);
  const tcp = by('tcp', '-');
  assert.deepEqual({ opened: tcp?.opened, closed: tcp?.closed, receivedBytes: tcp?.receivedBytes, sentBytes: tcp?.sentBytes }, { opened: 1, closed: 1, receivedBytes: 157, sentBytes: 2003 });
  assert.equal(tcp?.key.labels.destination_service, 'redis.shop.svc.cluster.local');
  assert.equal(tcp?.key.labels.destination_version, 'v1', 'from the peer (the endpoint\'s labels)');
  assert.equal(tcp?.key.labels.request_protocol, 'tcp');
  assert.equal(by('tcp', 'UF')?.opened, 1);
  assert.equal(by('tcp', 'UF')?.closed, 1);
  assert.equal(by('websocket', '-')?.opened, 1);
  assert.equal(by('websocket', '-')?.closed, 0);
  assert.equal(by('tcp', '-', 'inbound')?.key.labels.reporter, 'destination');
  let requests = 0;
  agg.forEachSeries('cumulative', (s) => { requests += s.requests; });
  assert.equal(requests, 1, 'request records are still requests');
  const text = renderPrometheus(agg, { workers: 1, configGeneration: 1 }, { constLabels: { mesh_id: 'm1' } });
  parseExposition(text);
  const line = /^istio_tcp_connections_opened_total\{(reporter="source",[^}]*request_protocol="tcp",response_flags="-"[^}]*)\} 1$/m.exec(text)?.[1] ?? '';
  assert.match(line, /^reporter="source",source_workload="unknown",/);
  assert.match(line, /,destination_workload="redis-v1",/);
  assert.match(line, /,destination_service="redis.shop.svc.cluster.local",destination_service_name="redis",/);
  assert.match(line, /,connection_security_policy="unknown",mesh_id="m1"$/);
  assert.doesNotMatch(line, /response_code|grpc_response_status/, 'not TCP labels');
  assert.match(text, /^istio_tcp_sent_bytes_total\{[^}]*request_protocol="tcp",response_flags="-"[^}]*\} 2003$/m);
  assert.match(text, /^istio_tcp_received_bytes_total\{reporter="destination",[^}]*\} 10$/m);
  assert.match(text, /^istio_tcp_connections_closed_total\{[^}]*response_flags="UF"[^}]*\} 1$/m);
  assert.match(text, /^istio_tcp_connections_opened_total\{[^}]*request_protocol="websocket"[^}]*\} 1$/m);
  agg.reset();
  assert.equal(agg.connectionSeries().length, 0);
  agg.destroy();
});

test('promtool check metrics accepts the TCP metrics', (t) => {
  const probe = spawnSync('promtool', ['--version'], { encoding: 'utf8' });
  if (probe.error !== undefined || probe.status !== 0) return t.skip('promtool not installed (apt-get install prometheus provides it)');
  const agg = populated();
  const text = renderPrometheus(agg, { workers: 1, configGeneration: 1 });
  agg.destroy();
  const r = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
  const complaints = `${r.stdout}${r.stderr}`.split('\n').map((l) => l.trim()).filter((l) => l !== '' && !l.includes('use base unit "seconds"'));
  assert.deepEqual(complaints, []);
});
