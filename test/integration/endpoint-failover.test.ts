// The figure issue 5 asks for: 10,000 requests under load against 3 endpoints while one endpoint
// is killed and later restarted, with retries and outlier detection configured. At least 99.9%
// of client requests succeed, and the restarted endpoint gets traffic again. Two workers.
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import { Pool } from 'undici';
import { serviceEntryYaml, startMeshlet } from '../helpers/meshlet.js';

const TOTAL = 10_000;
const CONCURRENCY = 32;
const KILL_AT = 2_000;
const RESTART_AT = 5_000;
/** requests are paced at this overall rate (~5 s of load) so the restarted endpoint has time to return */
const RATE = 2_000;

function server(hits: number[], i: number): http.Server {
  return http.createServer({ keepAliveTimeout: 5000 }, (req, res) => {
    hits[i] = (hits[i] as number) + 1;
    req.resume();
    res.end(`e${i}`);
  });
}

function listen(s: http.Server, port = 0): Promise<number> {
  return new Promise((resolve, reject) => {
    s.once('error', reject);
    s.listen(port, '127.0.0.1', () => resolve((s.address() as AddressInfo).port));
  });
}

function kill(s: http.Server): Promise<void> {
  return new Promise((resolve) => {
    s.close(() => resolve());
    s.closeAllConnections(); // in-flight requests are reset, keep-alive connections dropped
  });
}

test('10,000 requests while one of 3 endpoints is killed and restarted: ≥ 99.9% succeed, the endpoint returns', { timeout: 120_000 }, async () => {
  const hits = [0, 0, 0];
  const servers = [server(hits, 0), server(hits, 1), server(hits, 2)];
  const ports = await Promise.all(servers.map((s) => listen(s)));
  const m = await startMeshlet(serviceEntryYaml('svc', ports.map((port) => ({ port }))) + `apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: svc}
spec:
  host: svc
  trafficPolicy:
    outlierDetection: {consecutive5xxErrors: 3, interval: 200ms, baseEjectionTime: 500ms, maxEjectionPercent: 50}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: svc}
spec:
  hosts: [svc]
  http:
  - route: [{destination: {host: svc}}]
    retries: {attempts: 3, retryOn: "connect-failure,reset,5xx"}
`, { workers: 2 });
  const pool = new Pool(m.url, { connections: CONCURRENCY, pipelining: 1 });
  let sent = 0;
  let ok = 0;
  const failed: string[] = [];
  let hitsAtRestart = 0;
  let events: Promise<void> = Promise.resolve();
  const t0 = performance.now();
  async function client(): Promise<void> {
    while (sent < TOTAL) {
      const n = sent++;
      const due = t0 + (n * 1000) / RATE - performance.now();
      if (due > 1) await new Promise((r) => setTimeout(r, due)); // pacing the load, not synchronising
      if (n === KILL_AT) events = events.then(() => kill(servers[1] as http.Server));
      if (n === RESTART_AT) {
        events = events.then(async () => {
          servers[1] = server(hits, 1);
          await listen(servers[1], ports[1]);
          hitsAtRestart = hits[1] as number;
        });
      }
      try {
        const r = await pool.request({ path: `/r${n}`, method: 'GET', headers: { host: 'svc' } });
        const body = await r.body.text();
        if (r.statusCode === 200) ok++;
        else failed.push(`${r.statusCode} ${body.slice(0, 80)}`);
      } catch (err) {
        failed.push(String(err));
      }
    }
  }
  try {
    await Promise.all(Array.from({ length: CONCURRENCY }, client));
    await events;
    const rate = ok / TOTAL;
    assert.ok(rate >= 0.999, `${ok}/${TOTAL} succeeded; failures: ${failed.slice(0, 5).join(' | ')}`);
    // after its return (ejection over, outlier sweep), endpoint 1 serves again
    assert.ok((hits[1] as number) - hitsAtRestart > 0, `restarted endpoint got ${(hits[1] as number) - hitsAtRestart} requests after restart (total hits ${hits.join(',')})`);
    process.stdout.write(`# failover: ${ok}/${TOTAL} ok (${(rate * 100).toFixed(2)}%), hits per endpoint ${hits.join('/')}, after restart ${(hits[1] as number) - hitsAtRestart}\n`);
  } finally {
    await pool.close();
    await m.stop();
    await Promise.all(servers.map((s) => new Promise<void>((r) => { s.closeAllConnections(); s.close(() => r()); })));
  }
});
