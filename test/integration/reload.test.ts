// Hot reload over the control socket: 50 applies moving the canary weight back and forth while
// load runs across 2 workers — no failed request — and afterwards the split is the last config's.
// Also: a rejected apply leaves the running config serving, dry runs apply nothing, ifGeneration.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import net from 'node:net';
import { after, before, test } from 'node:test';
import { Agent, request } from 'undici';
import { controlRequest } from '../../src/control/control-client.js';
import { defaultControlSocket } from '../../src/control/socket-path.js';
import { serviceEntryYaml, sidecarYaml, startMeshlet, type Meshlet } from '../helpers/meshlet.js';
import { httpUpstream, type Upstream } from '../helpers/upstream.js';
import { freePort } from '../helpers/ports.js';

let v1: Upstream;
let v2: Upstream;
let m: Meshlet;
let socket: string;
let base = '';

function canary(weightV2: number): string {
  return `${base}apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: app}
spec:
  host: app
  subsets:
  - {name: v1, labels: {version: v1}}
  - {name: v2, labels: {version: v2}}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: app}
spec:
  hosts: [app]
  http:
  - route:
    - {destination: {host: app, subset: v1}, weight: ${100 - weightV2}}
    - {destination: {host: app, subset: v2}, weight: ${weightV2}}
`;
}

before(async () => {
  v1 = await httpUpstream((req, res) => { req.resume(); res.end('v1'); });
  v2 = await httpUpstream((req, res) => { req.resume(); res.end('v2'); });
  // every apply replaces the whole config, so the Sidecar and ServiceEntry are part of each one
  const port = await freePort();
  base = sidecarYaml(port) + serviceEntryYaml('app', [{ port: v1.port, labels: { version: 'v1' } }, { port: v2.port, labels: { version: 'v2' } }]);
  m = await startMeshlet(canary(10), { workers: 2, noSidecar: true, port });
  socket = defaultControlSocket(m.adminPort);
});

after(async () => {
  await m?.stop();
  await v1?.close();
  await v2?.close();
});

async function split(n: number, agent: Agent): Promise<number> {
  let v2Count = 0;
  for (let i = 0; i < n; i++) {
    const res = await request(`${m.url}/`, { headers: { host: 'app' }, dispatcher: agent });
    if ((await res.body.text()) === 'v2') v2Count++;
  }
  return v2Count / n;
}

test('50 applies under load: zero failed or non-2xx requests; the split follows the last config', async () => {
  const agent = new Agent({ connections: 8 });
  let stop = false;
  let sent = 0;
  const failures: string[] = [];
  async function lane(): Promise<void> {
    while (!stop) {
      sent++;
      try {
        const res = await request(`${m.url}/`, { headers: { host: 'app' }, dispatcher: agent });
        const body = await res.body.text();
        if (res.statusCode !== 200) failures.push(`${res.statusCode} ${body}`);
      } catch (err) {
        failures.push((err as Error).message);
      }
    }
  }
  const lanes = Array.from({ length: 8 }, lane);
  const started = Date.now();
  let generation = 0;
  for (let i = 0; i < 50 && Date.now() - started < 20_000; i++) {
    const reply = await controlRequest(socket, { op: 'apply', yaml: canary(i % 2 === 0 ? 90 : 10) });
    assert.equal(reply.ok, true, JSON.stringify(reply.errors));
    generation = reply.generation as number;
  }
  stop = true;
  await Promise.all(lanes);
  assert.deepEqual(failures.slice(0, 5), [], `${failures.length} of ${sent} requests failed`);
  assert.ok(sent > 200, `load kept running (${sent} requests)`);
  assert.equal(generation, 51);
  // the last apply (i = 49) routes 10% to v2
  const share = await split(1000, agent);
  assert.ok(share > 0.06 && share < 0.14, `v2 share ${share}`);
  await agent.close();
});

test('a rejected apply names the field and leaves the running config serving', async () => {
  const before = await controlRequest(socket, { op: 'ping' });
  const reply = await controlRequest(socket, { op: 'apply', yaml: canary(10).replace('weight: 10', 'weight: -10') });
  assert.equal(reply.ok, false);
  assert.match(String((reply.errors as string[]).join('\n')), /VirtualService\/app: spec\.http\[0\]\.route\[1\]\.weight/);
  const after = await controlRequest(socket, { op: 'ping' });
  assert.equal(after.generation, before.generation);
  const res = await request(`${m.url}/`, { headers: { host: 'app' } });
  assert.equal(res.statusCode, 200);
  await res.body.text();
});

test('dryRun reports the diff and applies nothing; ifGeneration guards concurrent operators', async () => {
  const { generation } = await controlRequest(socket, { op: 'ping' });
  const dry = await controlRequest(socket, { op: 'apply', yaml: canary(50), dryRun: true });
  assert.equal(dry.ok, true);
  assert.deepEqual(dry.diff, { added: [], changed: ['VirtualService/default/app'], removed: [] });
  assert.equal((await controlRequest(socket, { op: 'ping' })).generation, generation);
  const stale = await controlRequest(socket, { op: 'apply', yaml: canary(50), ifGeneration: (generation as number) - 1 });
  assert.equal(stale.ok, false);
  const fresh = await controlRequest(socket, { op: 'apply', yaml: canary(50), ifGeneration: generation });
  assert.equal(fresh.ok, true);
});

test('garbage, oversized and malformed requests get errors; the socket keeps serving', async () => {
  for (const bytes of [Buffer.from([0xff, 0xff, 0xff, 0xff, 1, 2, 3]), Buffer.from([0, 0, 0, 1, 0xc1])]) {
    const s = net.connect(socket);
    await once(s, 'connect');
    s.write(bytes);
    let answer = '';
    s.on('data', (d: Buffer) => { answer += d.toString('latin1'); });
    await once(s, 'close');
    assert.match(answer, /ok.*errors/s, 'an error reply before the close');
  }
  const unknown = await controlRequest(socket, { op: 'explode' });
  assert.equal(unknown.ok, false);
  assert.match(String(unknown.errors), /unknown op/);
  const wrongType = await controlRequest(socket, { op: 'apply', yaml: 42 });
  assert.equal(wrongType.ok, false);
  assert.match(String(wrongType.errors), /yaml must be a string/);
  assert.equal((await controlRequest(socket, { op: 'ping' })).ok, true);
});

test('meshlet apply CLI: exit 0 applied, 1 rejected (errors printed), --dry-run applies nothing', async () => {
  const { writeConfig, runMeshletExpectingExit } = await import('../helpers/meshlet.js');
  const port = String(m.adminPort);
  const good = await runMeshletExpectingExit(['apply', '-f', writeConfig(canary(20)), '--admin-port', port]);
  assert.equal(good.code, 0, good.output);
  assert.match(good.output, /applied generation \d+/);
  const dry = await runMeshletExpectingExit(['apply', '-f', writeConfig(canary(30)), '--dry-run', '--admin-port', port]);
  assert.equal(dry.code, 0);
  assert.match(dry.output, /dry run: would apply/);
  const bad = await runMeshletExpectingExit(['apply', '-f', writeConfig(canary(20).replace('hosts: [app]', 'hosts: 7')), '--admin-port', port]);
  assert.equal(bad.code, 1);
  assert.match(bad.output, /error: \S+ \(document 1\) ServiceEntry\/app: spec\.hosts: expected a list/);
});

test('an apply that keeps the endpoints keeps their upstream connections (no reconnect storm)', async () => {
  let connections = 0;
  const counter = (): void => { connections++; };
  v1.server.on('connection', counter);
  v2.server.on('connection', counter);
  try {
    // one client connection: one worker, one request at a time, so each endpoint needs exactly
    // one pooled upstream connection, and any new one would mean a pool was rebuilt
    const agent = new Agent({ connections: 1 });
    const warm = async (): Promise<void> => {
      for (let i = 0; i < 200; i++) {
        const res = await request(`${m.url}/`, { headers: { host: 'app' }, dispatcher: agent });
        await res.body.text();
      }
    };
    await warm(); // pooled connections to both endpoints exist now (opened here or by earlier tests)
    const opened = connections;
    for (let i = 0; i < 5; i++) {
      const reply = await controlRequest(socket, { op: 'apply', yaml: canary(i % 2 === 0 ? 60 : 40) });
      assert.equal(reply.ok, true);
    }
    await warm();
    assert.equal(connections - opened, 0, 'no new upstream connection after 5 applies');
    await agent.close();
  } finally {
    v1.server.off('connection', counter);
    v2.server.off('connection', counter);
  }
});
