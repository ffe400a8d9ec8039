// The binary's lifecycle: invalid config refuses to start naming the field, a port another
// process serves is refused, a crashed worker is respawned while requests keep succeeding, and
// SIGTERM lets an in-flight request finish before exiting 0.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { after, before, test } from 'node:test';
import { request, Agent } from 'undici';
import { runMeshletExpectingExit, serviceEntryYaml, sidecarYaml, startMeshlet, writeConfig, type Meshlet } from '../helpers/meshlet.js';
import { freePort } from '../helpers/ports.js';
import { httpUpstream, type Upstream } from '../helpers/upstream.js';

let up: Upstream;
let slowRelease: (() => void) | null = null;
let slowArrived: (() => void) | null = null;

before(async () => {
  up = await httpUpstream((req, res) => {
    req.resume();
    if (req.url === '/slow') {
      slowArrived?.();
      slowRelease = () => res.end('slow done');
      return;
    }
    res.end('ok');
  });
});

after(() => up.close());

test('an invalid config is refused with exit 1, naming file, resource and field path', async () => {
  const file = writeConfig(`apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: broken}
spec:
  hosts: [x]
  http:
  - route:
    - destination: {host: x}
      weight: -5
`);
  const { code, output } = await runMeshletExpectingExit(['run', '-c', file, '--admin', `127.0.0.1:${await freePort()}`]);
  assert.equal(code, 1);
  assert.match(output, /VirtualService\/broken/);
  assert.match(output, /spec\.http\[0\]\.route\[0\]\.weight/);
  assert.ok(output.includes(file), 'names the file');
});

test('a second meshlet on the same listener port is refused with exit 1', async () => {
  const first = await startMeshlet(serviceEntryYaml('svc', [{ port: up.port }]));
  try {
    const file = writeConfig(sidecarYaml(first.port) + serviceEntryYaml('svc', [{ port: up.port }]));
    const { code, output } = await runMeshletExpectingExit(['run', '-c', file, '--admin', `127.0.0.1:${await freePort()}`]);
    assert.equal(code, 1);
    assert.match(output, new RegExp(`127\\.0\\.0\\.1:${first.port} is already in use`));
  } finally {
    await first.stop();
  }
});

test('a crashed worker is respawned while requests keep succeeding', async () => {
  const m: Meshlet = await startMeshlet(serviceEntryYaml('svc', [{ port: up.port }]), { workers: 2 });
  try {
    const admin = `http://127.0.0.1:${m.adminPort}`;
    const statuses: number[] = [];
    // fresh connection per request, so the kernel spreads them over both workers' sockets
    const oneShot = async (): Promise<void> => {
      const agent = new Agent({ pipelining: 0 });
      const res = await request(`${m.url}/`, { headers: { host: 'svc' }, dispatcher: agent });
      await res.body.text();
      statuses.push(res.statusCode);
      await agent.close();
    };
    for (let i = 0; i < 20; i++) await oneShot();
    const before = (await (await request(`${admin}/workers`)).body.json()) as { workers: { restarts: number }[] };
    assert.equal(before.workers[0]?.restarts, 0);
    const crash = await request(`${admin}/workers/0/crash`, { method: 'POST', headers: { 'x-meshlet-admin': '1' } });
    assert.equal(crash.statusCode, 202);
    await crash.body.text();
    while (!m.output().includes('"msg":"worker crashed"')) await once(m.proc.stderr!, 'data');
    // one worker down until the respawn: the other keeps serving
    for (let i = 0; i < 100; i++) await oneShot();
    // the supervisor announces the respawned worker once it serves
    while (!m.output().includes('"msg":"worker respawned"')) await once(m.proc.stderr!, 'data');
    const status = (await (await request(`${admin}/workers`)).body.json()) as { workers: { ready: boolean; restarts: number }[] };
    assert.ok(status.workers.every((w) => w.ready));
    assert.equal(status.workers[0]?.restarts, 1);
    for (let i = 0; i < 20; i++) await oneShot();
    assert.deepEqual(statuses.filter((s) => s !== 200), [], 'every request succeeded');
    assert.equal(statuses.length, 140);
  } finally {
    await m.stop();
  }
});

test('SIGTERM: the in-flight request finishes, then meshlet exits 0', async () => {
  const m = await startMeshlet(serviceEntryYaml('svc', [{ port: up.port }]), { args: ['--drain-timeout', '10s'] });
  const arrived = new Promise<void>((r) => { slowArrived = r; });
  const inflight = request(`${m.url}/slow`, { headers: { host: 'svc' } });
  await arrived;
  const exit = m.stop('SIGTERM');
  // meshlet announces the drain; then the upstream answers the held request
  while (!m.output().includes('"msg":"draining"')) await once(m.proc.stderr!, 'data');
  (slowRelease as unknown as () => void)();
  const res = await inflight;
  assert.equal(res.statusCode, 200);
  assert.equal(await res.body.text(), 'slow done');
  assert.equal(await exit, 0);
});
