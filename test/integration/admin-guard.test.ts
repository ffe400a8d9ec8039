// The admin port against web pages: a request whose Host is not the admin's own (DNS rebinding:
// a page's name resolving to 127.0.0.1) is refused, and a state-changing request a page can send
// cross-site without a CORS preflight (a "simple" POST) is refused — checked with a real headless
// Chromium running a page from another origin that tries to crash a worker.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { request } from 'undici';
import { CHROMIUM, chromiumInstalled } from '../helpers/chromium.js';
import { startMeshlet, type Meshlet } from '../helpers/meshlet.js';

let m: Meshlet;
let admin: string;

before(async () => {
  m = await startMeshlet('');
  admin = `http://127.0.0.1:${m.adminPort}`;
});

after(async () => {
  await m?.stop();
});

/** GET with exactly this Host header (node:http sends any value, malformed ones too). */
function getWithHost(p: string, host: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port: m.adminPort, path: p, headers: { host } }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => { body += d; });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.once('error', reject);
  });
}

async function restarts(): Promise<number> {
  const r = await getWithHost('/workers', `127.0.0.1:${m.adminPort}`);
  return (JSON.parse(r.body) as { workers: { restarts: number }[] }).workers[0]?.restarts ?? -1;
}

test('a Host that is not localhost, an IP address or the bind host is refused (DNS rebinding)', async () => {
  for (const host of ['evil.example', `evil.example:${m.adminPort}`, '127.0.0.1.nip.io', 'localhost.evil.example:80', '[::1', 'a:b:c']) {
    for (const p of ['/config_dump', '/stats/prometheus', '/ready']) {
      const r = await getWithHost(p, host);
      assert.equal(r.status, 403, `${host} ${p}`);
      assert.match(r.body, /is not this admin's address: use localhost, an IP address or 127\.0\.0\.1 \(DNS rebinding protection\)/);
    }
  }
  for (const host of [`127.0.0.1:${m.adminPort}`, '127.0.0.1', `localhost:${m.adminPort}`, 'LOCALHOST', `[::1]:${m.adminPort}`, '10.1.2.3:15000']) {
    assert.equal((await getWithHost('/config_dump', host)).status, 200, host);
  }
});

test('a POST without x-meshlet-admin or a JSON content type is refused with 403; with either it is served', async () => {
  const reset = `${admin}/stats/histograms/reset`;
  for (const headers of [{}, { 'content-type': 'text/plain' }, { 'content-type': 'application/x-www-form-urlencoded' }, { 'content-type': 'multipart/form-data; boundary=x' }]) {
    const r = await request(reset, { method: 'POST', headers, body: 'x' });
    assert.equal(r.statusCode, 403, JSON.stringify(headers));
    assert.match(await r.body.text(), /^admin: POST needs the header "x-meshlet-admin: 1" \(or content-type: application\/json\)/);
  }
  const crash = await request(`${admin}/workers/0/crash`, { method: 'POST' });
  assert.equal(crash.statusCode, 403);
  await crash.body.dump();
  assert.equal(await restarts(), 0, 'the refused crash did not happen');
  for (const headers of [{ 'x-meshlet-admin': '1' }, { 'content-type': 'application/json; charset=utf-8' }]) {
    const r = await request(reset, { method: 'POST', headers });
    assert.equal(r.statusCode, 200, JSON.stringify(headers));
    assert.equal(await r.body.text(), 'reset\n');
  }
});

test('a page from another origin in a real browser cannot crash a worker', async (t) => {
  if (!chromiumInstalled()) {
    t.skip('chromium not installed (apt-get install chromium)');
    return;
  }
  // the attacker's page: a cross-site "simple" POST (no-cors, text/plain), then a beacon back home
  let done: (outcome: string) => void = () => undefined;
  const outcome = new Promise<string>((resolve) => { done = resolve; });
  const page = http.createServer((req, res) => {
    if (req.url?.startsWith('/done')) {
      done(decodeURIComponent(req.url.slice('/done?'.length)));
      res.end();
      return;
    }
    res.writeHead(200, { 'content-type': 'text/html' });
    res.end(`<script>
fetch('${admin}/workers/0/crash', { method: 'POST', mode: 'no-cors', headers: { 'content-type': 'text/plain' }, body: 'x' })
  .then(() => 'sent', (e) => 'failed: ' + e)
  .then((o) => fetch('/done?' + encodeURIComponent(o)));
</script>`);
  });
  await new Promise<void>((resolve) => page.listen(0, 'localhost', resolve));
  const pageUrl = `http://localhost:${(page.address() as { port: number }).port}/`;
  const dir = mkdtempSync(path.join(os.tmpdir(), 'meshlet-chromium-'));
  const browser = spawn(CHROMIUM, ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking',
    `--user-data-dir=${path.join(dir, 'profile')}`, '--remote-debugging-port=0', pageUrl], { stdio: 'ignore', detached: true });
  // its own process group: chromium's helper processes (renderer, crash handler) write the profile too
  const killAll = (): void => { try { process.kill(-(browser.pid as number), 'SIGKILL'); } catch { /* gone */ } };
  const exited = new Promise<void>((resolve) => browser.once('exit', () => resolve()));
  const killer = setTimeout(() => { killAll(); done('timeout'); }, 30_000);
  try {
    assert.equal(await outcome, 'sent', 'the page ran its request');
    assert.equal(await restarts(), 0, 'the worker was not crashed');
    assert.ok(!m.output().includes('worker crashed'));
  } finally {
    clearTimeout(killer);
    killAll();
    await exited; // its profile is written until it is gone
    page.close();
    // a helper of the killed group may still be exiting: retry the removal (ENOTEMPTY) a few times
    rmSync(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 50 });
  }
});
