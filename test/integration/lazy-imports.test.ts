// What a sidecar with a plain config loads (issue 16): the control thread and the worker load the
// packages a feature needs when that feature is configured or asked for, not at start. Seen through
// a module resolve hook (test/fixtures/import-log/) on a real `meshlet run` that proxies a request
// and serves /stats/prometheus; then /stats/histograms loads the HDR codec on demand and works.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { request } from 'undici';
import { REPO_ROOT, serviceEntryYaml, startMeshlet, type Meshlet } from '../helpers/meshlet.js';
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
  'pino/', // --access-log
  'hdr-histogram-js/dist/index.js', // its whole index (with the WebAssembly build): reports, plots, .hlog
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

test('a plain config proxies and reports Prometheus stats without loading undici, piscina, jose, grpc, x509, pino or hdr-histogram-js whole', async () => {
  const res = await request(`${meshlet.url}/x`, { headers: { host: 'plain' } });
  assert.equal(res.statusCode, 200);
  await res.body.dump();
  const prom = await request(`http://127.0.0.1:${meshlet.adminPort}/stats/prometheus`);
  assert.equal(prom.statusCode, 200);
  await prom.body.dump();
  const mods = loaded();
  assert.ok(new Set(mods.map((m) => m.thread)).size >= 2, 'both the control thread and the worker are seen');
  assert.ok(mods.some((m) => m.module.startsWith('yaml/')), 'the hook sees packages (the config is YAML)');
  const early = mods.filter((m) => NOT_AT_START.some((p) => m.module.startsWith(p)));
  assert.deepEqual([...new Set(early.map((m) => m.module))], []);
});

test('/stats/histograms loads the HDR codec on its first call and answers with encoded histograms', async () => {
  const res = await request(`http://127.0.0.1:${meshlet.adminPort}/stats/histograms`);
  assert.equal(res.statusCode, 200);
  const body = (await res.body.json()) as { series: { requests: number; duration: { histogram: string } }[] };
  assert.ok(body.series.some((s) => s.requests >= 1 && s.duration.histogram.startsWith('HISTFAAA')));
  assert.ok(loaded().some((m) => m.module === 'hdr-histogram-js/dist/index.js'));
});
