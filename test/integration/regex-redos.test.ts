// A route regex cannot freeze a worker: requests built to make a backtracking engine explode on
// the uri, a header, a query parameter and the authority regexes are answered at once (404 NR,
// as RE2 decides: no match), and a normal request on another connection to the same (single)
// worker is served beside them. With V8's RegExp the worker spins for hours on the first one and
// every request, the normal one included, waits: the test then fails at its timeout.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { Client } from 'undici';
import { serviceEntryYaml, startMeshlet, type Meshlet } from '../helpers/meshlet.js';
import { echoUpstream, type Upstream } from '../helpers/upstream.js';

let up: Upstream;
let m: Meshlet;
const clients: Client[] = [];

before(async () => {
  up = await echoUpstream('svc');
  m = await startMeshlet(serviceEntryYaml('svc', [{ port: up.port }]) + `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: redos}
spec:
  hosts: [redos]
  http:
  - name: uri-regex
    match: [{uri: {regex: "/(a+)+"}}]
    route: [{destination: {host: svc}}]
  - name: header-regex
    match: [{headers: {x-agent: {regex: "(a|aa)+b"}}}]
    route: [{destination: {host: svc}}]
  - name: query-regex
    match: [{queryParams: {q: {regex: "(x+x+)+y"}}}]
    route: [{destination: {host: svc}}]
  - name: authority-regex
    match: [{authority: {regex: "redos:(a+)+"}}]
    route: [{destination: {host: svc}}]
  - name: ok
    match: [{uri: {exact: /ok}}]
    route: [{destination: {host: svc}}]
`);
});

after(async () => {
  for (const c of clients) await c.destroy();
  // a worker stuck in a regex ignores SIGTERM's drain: bound the stop, then kill
  let bound: NodeJS.Timeout | undefined;
  const killed = new Promise<void>((resolve) => {
    bound = setTimeout(() => { m.proc.kill('SIGKILL'); resolve(); }, 5000);
  });
  await Promise.race([m.stop(), killed]);
  clearTimeout(bound);
  await up.close();
});

/** One request on a connection of its own. */
async function send(path: string, headers: Record<string, string>): Promise<{ status: number; flags: unknown; body: string }> {
  const client = new Client(m.url);
  clients.push(client);
  const res = await client.request({ path, method: 'GET', headers });
  return { status: res.statusCode, flags: res.headers['x-meshlet-flags'], body: await res.body.text() };
}

test('pathological inputs for the uri, header, query and authority regexes do not block the worker', { timeout: 15_000 }, async () => {
  const as = 'a'.repeat(40);
  const [uri, header, query, authority, ok] = await Promise.all([
    send(`/${as}!`, { host: 'redos' }),
    send('/x', { host: 'redos', 'x-agent': 'a'.repeat(60) }),
    send(`/x?q=${'x'.repeat(40)}`, { host: 'redos' }),
    send('/x', { host: `redos:${as}!` }),
    send('/ok', { host: 'redos' }),
  ]);
  for (const [what, r] of Object.entries({ uri, header, query, authority })) {
    assert.equal(r.status, 404, `${what}: ${r.body}`);
    assert.equal(r.flags, 'NR', what);
  }
  assert.equal(ok.status, 200, ok.body);
  assert.equal((JSON.parse(ok.body) as { url: string }).url, '/ok');
  // the regexes still route what they match
  assert.equal((await send(`/${as}`, { host: 'redos' })).status, 200);
  assert.equal((await send('/x', { host: 'redos', 'x-agent': `${as}b` })).status, 200);
  assert.equal((await send('/x?q=xxy', { host: 'redos' })).status, 200);
  assert.equal((await send('/x', { host: `redos:${as}` })).status, 200);
});
