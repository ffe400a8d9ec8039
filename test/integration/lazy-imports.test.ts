// What a sidecar with a plain config loads (issue 16): the control thread and the worker load the
// packages a feature needs when that feature is configured or asked for, not at start. Seen through
// a module resolve hook (test/fixtures/import-log/) on a real `meshlet run` that proxies a request
// and serves /stats/prometheus; then /stats/histograms loads the HDR codec on demand and works.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import http2 from 'node:http2';
import { mkdtempSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { request } from 'undici';
import { controlRequest } from '../../src/control/control-client.js';
import { defaultControlSocket } from '../../src/control/socket-path.js';
import { REPO_ROOT, serviceEntryYaml, sidecarYaml, startMeshlet, virtualServiceYaml, type Meshlet } from '../helpers/meshlet.js';
import { echoUpstream, type Upstream } from '../helpers/upstream.js';

const REGISTER = path.join(REPO_ROOT, 'test/fixtures/import-log/register.mjs');
/** packages (or package paths) that only a feature the plain config does not use may load */
const NOT_AT_START = [
  'undici/', // jwksUri fetches (RequestAuthentication), --upstream-codec undici
  'piscina/', // the mesh CA's crypto pool
  'jose/', // RequestAuthentication
  '@grpc/', // --store
  '@peculiar/', // the mesh CA
  'node-forge/',
  'hdr-histogram-js/dist/index.js', // its whole index (with the WebAssembly build): reports, plots, .hlog
  're2js/', // a regex in the config (StringMatch regex)
  'msgpackr/', // the first control-socket request
  'protobufjs/', // (never: the metadata exchange's Struct has its own codec)
  'node:http2', // a worker's first HTTP/2 connection (in or out); grpc-js (--store)
];
/** what a worker only loads for a feature (the control thread logs through pino from the start) */
const NOT_AT_START_IN_WORKERS = [
  'pino/', // --access-log, or a worker's first log line
];

let upstream: Upstream;
let meshlet: Meshlet;
let log: string;

before(async () => {
  upstream = await echoUpstream('plain');
  log = path.join(mkdtempSync(path.join(os.tmpdir(), 'meshlet-imports-')), 'imports.log');
  meshlet = await startMeshlet(serviceEntryYaml('plain', [{ port: upstream.port }]), {
    env: { ...process.env, NODE_OPTIONS: `--import=${REGISTER}`, IMPORT_LOG: log },
  });
});

after(async () => {
  await meshlet.stop();
  await upstream.close();
});

function loaded(): { thread: string; module: string }[] {
  return readFileSync(log, 'utf8').trim().split('\n').map((l) => {
    const [thread, module] = l.split(' ');
    return { thread: thread as string, module: module as string };
  });
}

test('a plain config proxies and reports Prometheus stats without loading undici, piscina, jose, grpc, x509, pino, re2js, msgpackr, protobufjs, node:http2 or hdr-histogram-js whole', async () => {
  const res = await request(`${meshlet.url}/x`, { headers: { host: 'plain' } });
  assert.equal(res.statusCode, 200);
  await res.body.dump();
  const prom = await request(`http://127.0.0.1:${meshlet.adminPort}/stats/prometheus`);
  assert.equal(prom.statusCode, 200);
  await prom.body.dump();
  const mods = loaded();
  // (the worker loads no package at all with this config; the last test shows the hook sees it)
  assert.ok(mods.some((m) => m.module.startsWith('yaml/')), 'the hook sees packages (the config is YAML)');
  const early = mods.filter((m) => NOT_AT_START.some((p) => m.module.startsWith(p)) ||
    (m.thread !== '0' && NOT_AT_START_IN_WORKERS.some((p) => m.module.startsWith(p))));
  assert.deepEqual([...new Set(early.map((m) => m.module))], []);
});

test('/stats/histograms loads the HDR codec on its first call and answers with encoded histograms', async () => {
  const res = await request(`http://127.0.0.1:${meshlet.adminPort}/stats/histograms`);
  assert.equal(res.statusCode, 200);
  const body = (await res.body.json()) as { series: { requests: number; duration: { histogram: string } }[] };
  assert.ok(body.series.some((s) => s.requests >= 1 && s.duration.histogram.startsWith('HISTFAAA')));
  assert.ok(loaded().some((m) => m.module === 'hdr-histogram-js/dist/index.js'));
});

test('a config with a regex, applied over the control socket: msgpackr loads in the control thread, re2js in both threads, and the regex routes', async () => {
  const vs = virtualServiceYaml('plain', `match: [{uri: {regex: "/v[0-9]+/.*"}}]
route: [{destination: {host: plain}}]`);
  const reply = await controlRequest(defaultControlSocket(meshlet.adminPort), {
    op: 'apply', yaml: sidecarYaml(meshlet.port) + serviceEntryYaml('plain', [{ port: upstream.port }]) + vs,
  });
  assert.equal(reply.ok, true, JSON.stringify(reply));
  const hit = await request(`${meshlet.url}/v2/x`, { headers: { host: 'plain' } });
  await hit.body.dump();
  assert.equal(hit.statusCode, 200);
  const miss = await request(`${meshlet.url}/x`, { headers: { host: 'plain' } });
  await miss.body.dump();
  assert.equal(miss.statusCode, 404);
  const mods = loaded();
  const threadsLoading = (prefix: string): Set<string> => new Set(mods.filter((m) => m.module.startsWith(prefix)).map((m) => m.thread));
  assert.deepEqual([...threadsLoading('msgpackr/')], ['0'], 'the control thread decodes the request');
  assert.equal(threadsLoading('re2js/').size, 2, 'validation (control thread) and the route (worker)');
});

test('an HTTP/2 client (h2c, prior knowledge) is served, and node:http2 loads in the worker with that first connection', async () => {
  const session = http2.connect(meshlet.url);
  try {
    const stream = session.request({ ':path': '/v2/h2', ':authority': 'plain' }) // (the route of the test before);
    const [headers] = (await once(stream, 'response')) as [http2.IncomingHttpHeaders];
    stream.resume();
    await once(stream, 'end');
    assert.equal(headers[':status'], 200);
  } finally {
    session.close();
  }
  const threads = new Set(loaded().filter((m) => m.module === 'node:http2').map((m) => m.thread));
  assert.ok([...threads].some((t) => t !== '0'), `a worker loaded node:http2 (threads: ${[...threads].join(',')})`);
});
