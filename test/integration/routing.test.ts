// VirtualService matching (uri/headers/method/query, ignoreUriCase, AND within a match, OR across
// matches, first rule wins), rewrite, redirect, header operations and the synthetic reply flags.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { serviceEntryYaml, startMeshlet, type Meshlet } from '../helpers/meshlet.js';
import { get, getJson } from '../helpers/http.js';
import { echoUpstream, type Upstream } from '../helpers/upstream.js';
import { rawRequest } from '../helpers/raw.js';

interface Echo { name: string; method: string; url: string; headers: Record<string, string> }

let ups: Record<string, Upstream> = {};
let m: Meshlet;

before(async () => {
  for (const name of ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'fallback']) ups[name] = await echoUpstream(name);
  const se = Object.entries(ups).map(([name, u]) => ({ port: u.port, labels: { v: name } }));
  const subsets = Object.keys(ups).map((n) => `  - {name: ${n}, labels: {v: ${n}}}`).join('\n');
  const yaml = serviceEntryYaml('svc', se) + serviceEntryYaml('empty', []) + `apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: svc}
spec:
  host: svc
  trafficPolicy: {loadBalancer: {simple: ROUND_ROBIN}}
  subsets:
${subsets}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: svc}
spec:
  hosts: [svc]
  http:
  - name: exact
    match: [{uri: {exact: /exact}}]
    route: [{destination: {host: svc, subset: a}}]
  - name: regex
    match: [{uri: {regex: "/items/[0-9]+"}}]
    route: [{destination: {host: svc, subset: b}}]
  - name: header-and-method
    match:
    - headers: {x-user: {exact: alice}}
      method: {exact: POST}
    route: [{destination: {host: svc, subset: c}}]
  - name: header-prefix-or-regex
    match:
    - headers: {x-group: {prefix: beta-}}
    - headers: {x-group: {regex: "gamma|delta"}}
    route: [{destination: {host: svc, subset: d}}]
  - name: query
    match: [{queryParams: {canary: {exact: "yes"}}}]
    route: [{destination: {host: svc, subset: e}}]
  - name: ignore-case
    match: [{uri: {prefix: /CaseLess}, ignoreUriCase: true}]
    route: [{destination: {host: svc, subset: f}}]
  - name: rewrite
    match: [{uri: {prefix: /old/}}]
    rewrite: {uri: /new/, authority: rewritten.example}
    route: [{destination: {host: svc, subset: g}}]
  - name: redirect
    match: [{uri: {exact: /moved}}]
    redirect: {uri: /here, authority: other.example, redirectCode: 308}
  - name: headers
    match: [{uri: {prefix: /hdr}}]
    headers:
      request:
        set: {x-set: set-value}
        add: {x-add: added}
        remove: [x-remove-me]
      response:
        set: {x-resp-set: yes}
        remove: [x-upstream]
    route: [{destination: {host: svc, subset: h}}]
  - name: missing-subset
    match: [{uri: {prefix: /nosubset}}]
    route: [{destination: {host: svc, subset: undefined-subset}}]
  - name: missing-host
    match: [{uri: {prefix: /nohost}}]
    route: [{destination: {host: not-a-service}}]
  - name: fallback
    route: [{destination: {host: svc, subset: fallback}}]
`;
  m = await startMeshlet(yaml);
});

after(async () => {
  await m?.stop();
  await Promise.all(Object.values(ups).map((u) => u.close()));
});

async function via(path: string, opts: Parameters<typeof get>[2] = {}, host = 'svc'): Promise<{ status: number; json: Echo; headers: Record<string, unknown> }> {
  return getJson<Echo>(`${m.url}${path}`, host, opts);
}

test('uri exact, regex (full match) and fallback', async () => {
  assert.equal((await via('/exact')).json.name, 'a');
  assert.equal((await via('/exact/more')).json.name, 'fallback');
  assert.equal((await via('/items/42')).json.name, 'b');
  assert.equal((await via('/items/42x')).json.name, 'fallback', 'regex is a full match');
});

test('conditions inside one match are ANDed', async () => {
  assert.equal((await via('/p', { method: 'POST', headers: { 'x-user': 'alice' }, body: 'x' })).json.name, 'c');
  assert.equal((await via('/p', { method: 'GET', headers: { 'x-user': 'alice' } })).json.name, 'fallback');
  assert.equal((await via('/p', { method: 'POST', headers: { 'x-user': 'bob' }, body: 'x' })).json.name, 'fallback');
});

test('matches are ORed: header prefix or header regex', async () => {
  assert.equal((await via('/g', { headers: { 'x-group': 'beta-1' } })).json.name, 'd');
  assert.equal((await via('/g', { headers: { 'x-group': 'delta' } })).json.name, 'd');
  assert.equal((await via('/g', { headers: { 'x-group': 'deltax' } })).json.name, 'fallback');
});

test('query parameter exact match', async () => {
  assert.equal((await via('/q?a=1&canary=yes')).json.name, 'e');
  assert.equal((await via('/q?canary=no')).json.name, 'fallback');
});

test('ignoreUriCase', async () => {
  assert.equal((await via('/caseless/x')).json.name, 'f');
  assert.equal((await via('/CASELESS')).json.name, 'f');
});

test('rewrite replaces the matched prefix and the authority; the query is kept', async () => {
  const r = await via('/old/thing?k=v');
  assert.equal(r.json.name, 'g');
  assert.equal(r.json.url, '/new/thing?k=v');
  assert.equal(r.json.headers.host, 'rewritten.example');
});

test('redirect answers with the code and Location, without contacting an upstream', async () => {
  const r = await get(`${m.url}/moved?q=1`, 'svc');
  assert.equal(r.status, 308);
  assert.equal(r.headers.location, 'http://other.example/here?q=1');
});

test('request and response header set/add/remove', async () => {
  const r = await via('/hdr', { headers: { 'x-remove-me': '1', 'x-set': 'client', 'x-add': 'client' } });
  assert.equal(r.json.name, 'h');
  assert.equal(r.json.headers['x-set'], 'set-value');
  assert.equal(r.json.headers['x-add'], 'client, added');
  assert.equal(r.json.headers['x-remove-me'], undefined);
  assert.equal(r.headers['x-resp-set'], 'yes');
  assert.equal(r.headers['x-upstream'], undefined);
});

test('unknown host → 404 NR', async () => {
  const r = await get(`${m.url}/`, 'nobody-knows');
  assert.equal(r.status, 404);
  assert.equal(r.headers['x-meshlet-flags'], 'NR');
});

test('undefined subset and host without ServiceEntry → 503 NC', async () => {
  for (const p of ['/nosubset', '/nohost']) {
    const r = await get(`${m.url}${p}`, 'svc');
    assert.equal(r.status, 503, p);
    assert.equal(r.headers['x-meshlet-flags'], 'NC', p);
  }
});

test('a service with no endpoints → 503 UH', async () => {
  const r = await get(`${m.url}/`, 'empty');
  assert.equal(r.status, 503);
  assert.equal(r.headers['x-meshlet-flags'], 'UH');
});

test('Host with port and upper case finds the service; short-name aliases resolve', async () => {
  assert.equal((await via('/exact', {}, 'SVC:80')).json.name, 'a');
  assert.equal((await via('/exact', {}, 'svc.default.svc.cluster.local')).json.name, 'a');
});

test('forwarding headers: hop-by-hop dropped, x-forwarded-proto and x-request-id added, x-forwarded-for passed as sent (Istio\'s sidecar default)', async () => {
  const raw = await rawRequest(m.port, 'GET /fwd HTTP/1.1\r\nHost: svc\r\nX-Forwarded-For: 10.9.9.9\r\nConnection: keep-alive, x-hop\r\nX-Hop: 1\r\nX-Keep: 1\r\nKeep-Alive: timeout=5\r\nTE: trailers\r\n\r\n');
  const h = (JSON.parse(raw.slice(raw.indexOf('\r\n\r\n') + 4)) as Echo).headers;
  assert.equal(h['x-forwarded-for'], '10.9.9.9', 'a sidecar does not append the client address unless its Sidecar asks');
  assert.equal(h['x-forwarded-proto'], 'http');
  assert.match(h['x-request-id'] ?? '', /^[0-9a-f-]{36}$/);
  assert.equal(h['x-hop'], undefined, 'a header named in Connection is hop-by-hop');
  assert.equal(h['x-keep'], '1');
  assert.equal(h['keep-alive'], undefined);
  assert.equal(h.te, undefined);
  const given = await via('/fwd', { headers: { 'x-request-id': 'abc-123' } });
  assert.equal(given.json.headers['x-request-id'], 'abc-123');
});

test('HEAD gets headers and no body', async () => {
  const r = await get(`${m.url}/head`, 'svc', { method: 'HEAD' });
  assert.equal(r.status, 200);
  assert.equal(r.body, '');
  assert.ok(Number(r.headers['content-length']) > 0);
});
