// Lifecycle by default: wrapper mode starts the app only once meshlet serves and exits with the
// app's code (a Job completes); SIGTERM drains in the right order (readiness false and inbound
// refused at once, in-flight inbound finishes with Connection: close, outbound keeps serving the
// app until it exits); `meshlet wait-ready` for init scripts.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import net from 'node:net';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { request } from 'undici';
import { MAIN, REPO_ROOT, runMeshletExpectingExit, serviceEntryYaml, writeConfig } from '../helpers/meshlet.js';
import { freePort } from '../helpers/ports.js';
import { httpUpstream, type Upstream } from '../helpers/upstream.js';

const APP = path.join(REPO_ROOT, 'test/fixtures/apps/lifecycle-app.mjs');
let upstream: Upstream;

before(async () => {
  upstream = await httpUpstream((req, res) => { req.resume(); res.end('from upstream'); });
});
after(() => upstream.close());

async function config(appPort: number): Promise<{ file: string; inbound: number; outbound: number; admin: number }> {
  const [inbound, outbound, admin] = [await freePort(), await freePort(), await freePort()];
  const file = writeConfig(`apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: {name: app}
spec:
  ingress: [{port: {number: ${inbound}, protocol: HTTP}, defaultEndpoint: "127.0.0.1:${appPort}"}]
  egress: [{port: {number: ${outbound}, protocol: HTTP}, hosts: ["*/*"]}]
---
${serviceEntryYaml('upstream', [{ port: upstream.port }])}`);
  return { file, inbound, outbound, admin };
}

function runWrapped(file: string, admin: number, env: Record<string, string>) {
  const proc = spawn(process.execPath, [MAIN, 'run', '-c', file, '--workers', '2', '--admin', `127.0.0.1:${admin}`, '--drain-timeout', '8s', '--', process.execPath, APP],
    { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
  let out = '';
  proc.stdout.on('data', (d: Buffer) => { out += d.toString(); });
  proc.stderr.on('data', (d: Buffer) => { out += d.toString(); });
  const exit = new Promise<number | null>((r) => proc.once('exit', (code) => r(code)));
  const waitFor = async (text: string): Promise<void> => {
    while (!out.includes(text)) await Promise.race([once(proc.stdout, 'data'), once(proc.stderr, 'data'), exit]);
  };
  return { proc, exit, waitFor, output: () => out };
}

test('wrapper mode: the app starts once meshlet serves, and meshlet exits with its code', async () => {
  const appPort = await freePort();
  const c = await config(appPort);
  const run = runWrapped(c.file, c.admin, { APP_PORT: String(appPort), APP_EXIT_NOW: '1', APP_EXIT_CODE: '7' });
  assert.equal(await run.exit, 7, run.output());
  const out = run.output();
  assert.match(out, /startup call: 200 from upstream/, 'the app could call out at once: meshlet was ready first');
  assert.ok(out.indexOf('"msg":"meshlet ready"') < out.indexOf('startup call'), 'ready line before the app ran');
});

test('SIGTERM: ready 503 and inbound refused at once; in-flight inbound finishes; outbound serves the app until it exits', async () => {
  const appPort = await freePort();
  const c = await config(appPort);
  const run = runWrapped(c.file, c.admin, { APP_PORT: String(appPort), APP_EXIT_CODE: '3' });
  await run.waitFor('app listening');
  const slow = request(`http://127.0.0.1:${c.inbound}/slow`, { headers: { host: 'app' } });
  await run.waitFor('slow received'); // in flight at the app, which answers 600 ms later
  run.proc.kill('SIGTERM');
  await run.waitFor('"msg":"draining"');
  const ready = await request(`http://127.0.0.1:${c.admin}/ready`);
  await ready.body.text();
  assert.equal(ready.statusCode, 503, 'readiness false at once');
  const refused = await new Promise<string>((resolve) => {
    const s = net.connect(c.inbound, '127.0.0.1');
    s.once('connect', () => { s.destroy(); resolve('connected'); });
    s.once('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? 'error'));
  });
  assert.equal(refused, 'ECONNREFUSED', 'new inbound connections are refused');
  const res = await slow;
  assert.equal(res.statusCode, 200);
  assert.equal(await res.body.text(), 'slow done');
  assert.equal(res.headers.connection, 'close', 'keep-alive clients are told to close');
  assert.equal(await run.exit, 3, run.output());
  assert.match(run.output(), /shutdown call: 200 from upstream/, 'outbound kept working while the app shut down');
});

test('meshlet wait-ready: 0 once ready, 1 at the timeout', async () => {
  const nobody = await freePort();
  const miss = await runMeshletExpectingExit(['wait-ready', '--timeout', '300ms', '--admin', `127.0.0.1:${nobody}`]);
  assert.equal(miss.code, 1);
  const appPort = await freePort();
  const c = await config(appPort);
  const run = runWrapped(c.file, c.admin, { APP_PORT: String(appPort), APP_EXIT_CODE: '0' });
  const hit = await runMeshletExpectingExit(['wait-ready', '--timeout', '15s', '--admin', `127.0.0.1:${c.admin}`]);
  assert.equal(hit.code, 0, hit.output);
  await run.waitFor('app listening'); // a SIGTERM before the app installed its handler would kill it (exit 143)
  run.proc.kill('SIGTERM');
  assert.equal(await run.exit, 0);
});
