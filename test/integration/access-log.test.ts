// Access logs: one JSON line per request with Envoy's familiar fields, written asynchronously by
// every worker, all lines flushed by a graceful shutdown; sampling keeps about the asked share.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { Agent, request } from 'undici';
import { serviceEntryYaml, startMeshlet } from '../helpers/meshlet.js';
import { freePort } from '../helpers/ports.js';
import { httpUpstream } from '../helpers/upstream.js';

async function send(url: string, n: number, host: string): Promise<void> {
  const agent = new Agent({ connections: 8 });
  let next = 0;
  const lane = async (): Promise<void> => {
    while (next < n) {
      next++;
      const res = await request(`${url}/item?id=${next}`, { headers: { host, 'user-agent': 'meshlet-test' }, dispatcher: agent });
      await res.body.text();
    }
  };
  await Promise.all(Array.from({ length: 8 }, lane));
  await agent.close();
}

test('every request of 2 workers is logged, and lines are flushed by SIGTERM', async () => {
  const up = await httpUpstream((req, res) => { req.resume(); res.end('hello'); });
  const file = path.join(mkdtempSync(path.join(os.tmpdir(), 'meshlet-al-')), 'access.log');
  const refusedPort = await freePort();
  const m = await startMeshlet(serviceEntryYaml('logged', [{ port: up.port }]) + serviceEntryYaml('refused', [{ port: refusedPort }]),
    { workers: 2, args: ['--access-log', file] });
  await send(m.url, 1000, 'logged');
  const nr = await request(`${m.url}/`, { headers: { host: 'nobody', 'user-agent': 'quote " backslash \\ tab\t end' } });
  await nr.body.text();
  const uf = await request(`${m.url}/`, { headers: { host: 'refused' } });
  assert.ok(!(await uf.body.text()).includes(String(refusedPort)), 'the reply names no address');
  assert.equal(await m.stop(), 0);
  await up.close();
  const lines = readFileSync(file, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
  assert.equal(lines.length, 1002);
  const ok = lines.find((l) => l.response_code === 200);
  assert.ok(ok !== undefined);
  assert.equal(ok.method, 'GET');
  assert.match(String(ok.path), /^\/item\?id=\d+$/);
  assert.equal(ok.protocol, 'HTTP/1.1');
  assert.equal(ok.response_flags, '-');
  assert.equal(ok.bytes_sent, 5);
  assert.equal(ok.user_agent, 'meshlet-test');
  assert.match(String(ok.upstream_host), /^127\.0\.0\.1:\d+$/);
  assert.match(String(ok.x_request_id), /^[0-9a-f-]{36}$/);
  assert.ok(typeof ok.duration_ms === 'number' && !Number.isNaN(Date.parse(String(ok.start_time))));
  const miss = lines.find((l) => l.response_code === 404);
  assert.equal(miss?.response_flags, 'NR');
  assert.equal(miss?.user_agent, 'quote " backslash \\ tab\t end', 'escaped, and read back as sent');
  assert.equal(ok.upstream_transport_failure_reason, null);
  const failed = lines.find((l) => l.response_code === 503);
  assert.equal(failed?.response_flags, 'UF,URX', 'every flag that applied, in Envoy order');
  assert.match(String(failed?.upstream_transport_failure_reason), new RegExp(`ECONNREFUSED 127\\.0\\.0\\.1:${refusedPort}`), 'the address is in the access log');
});

test('--access-log-sample 0.25 logs about a quarter of requests', async () => {
  const up = await httpUpstream((req, res) => { req.resume(); res.end('x'); });
  const file = path.join(mkdtempSync(path.join(os.tmpdir(), 'meshlet-al-')), 'access.log');
  const m = await startMeshlet(serviceEntryYaml('sampled', [{ port: up.port }]), { args: ['--access-log', file, '--access-log-sample', '0.25'] });
  await send(m.url, 2000, 'sampled');
  assert.equal(await m.stop(), 0);
  await up.close();
  const n = readFileSync(file, 'utf8').trim().split('\n').length;
  assert.ok(n > 400 && n < 600, `${n} lines for 2000 requests at 0.25`);
});
