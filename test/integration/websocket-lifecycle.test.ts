// A WebSocket's lifetime against the sidecar's: it survives 20 config reloads (its records still
// name its destination afterwards), and a drain ends it with Close 1001 (going away) on both sides
// at the drain timeout, while requests already answered were not cut.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type WebSocket from 'ws';
import { controlRequest } from '../../src/control/control-client.js';
import { defaultControlSocket } from '../../src/control/socket-path.js';
import { serviceEntryYaml, sidecarYaml, startMeshlet, type Meshlet } from '../helpers/meshlet.js';
import { freePort } from '../helpers/ports.js';
import { metricValue, waitForMetrics } from '../helpers/tcp.js';
import { closed, openWs, roundTrip, wsEchoServer, type WsServer } from '../helpers/ws.js';

let up: WsServer;
let m: Meshlet;
let base = '';

function config(timeout: number): string {
  return `${base}apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: live}
spec:
  hosts: [live]
  http:
  - route: [{destination: {host: live}}]
    timeout: ${timeout}ms
`;
}

before(async () => {
  up = await wsEchoServer('live');
  const port = await freePort();
  base = sidecarYaml(port) + serviceEntryYaml('live', [{ port: up.port }]);
  m = await startMeshlet(config(1000), { workers: 2, noSidecar: true, port, args: ['--drain-timeout', '2s'] });
});

after(async () => {
  await m?.stop();
  await up?.close();
});

test('a WebSocket survives 20 reloads: messages flow between and after them; its records stay resolvable', { timeout: 60_000 }, async () => {
  const ws = (await openWs(m.port, 'live')).ws as WebSocket;
  const socket = defaultControlSocket(m.adminPort);
  for (let i = 0; i < 20; i++) {
    const reply = await controlRequest(socket, { op: 'apply', yaml: config(1000 + i) });
    assert.equal(reply.ok, true, JSON.stringify(reply.errors));
    assert.equal(await roundTrip(ws, `after reload ${i + 1}`), `after reload ${i + 1}`);
  }
  const done = closed(ws);
  ws.close(1000);
  assert.equal((await done)[0], 1000);
  const labels = ['destination_service="live.default.svc.cluster.local"', 'request_protocol="websocket"'];
  const text = await waitForMetrics(m.adminPort, (t) => metricValue(t, 'istio_tcp_connections_closed_total', ...labels) === 1);
  assert.equal(metricValue(text, 'istio_tcp_connections_opened_total', ...labels), 1);
  assert.equal(metricValue(text, 'istio_requests_total', 'destination_service="live.default.svc.cluster.local"', 'response_code="101"'), 1);
  assert.ok(metricValue(text, 'istio_tcp_received_bytes_total', ...labels) > 20 * 20);
});

test('drain: at the drain timeout open WebSockets get Close 1001 on both sides', { timeout: 30_000 }, async () => {
  const ws = (await openWs(m.port, 'live')).ws as WebSocket;
  assert.equal(await roundTrip(ws, 'before drain'), 'before drain');
  const server = [...up.wss.clients].at(-1) as WebSocket;
  const serverClose = new Promise<number>((resolve) => server.once('close', resolve));
  const clientClose = closed(ws);
  const t0 = performance.now();
  const stopped = m.stop('SIGTERM');
  const [code] = await clientClose;
  const ms = performance.now() - t0;
  assert.equal(code, 1001);
  assert.equal(await serverClose, 1001);
  assert.ok(ms >= 1500 && ms < 6000, `closed ${ms} ms after SIGTERM (drain timeout 2 s)`);
  assert.equal(await stopped, 0);
});
