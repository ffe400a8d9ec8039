// Snapshot semantics: host aliases, endpoint selection (ServiceEntry endpoints, WorkloadEntries,
// subsets, port mapping), default routes, listeners, and how http rules are carried over.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatIssue, type Snapshot } from '../../../src/config/index.js';
import { compileYaml, errors } from './helpers.js';

function snap(text: string): Snapshot {
  const r = compileYaml(text);
  assert.deepEqual(errors(r).map(formatIssue), []);
  assert.ok(r.snapshot);
  return r.snapshot;
}

const eps = (s: Snapshot, id: number | undefined) => s.clusters[id ?? -1]?.endpoints.map((e) => `${e.address}:${e.port}`);

test('short host names answer for their namespace aliases; FQDNs and wildcards are kept as written (lower-cased)', () => {
  const s = snap(`apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: r, namespace: shop}
spec:
  hosts: [Reviews, "*.Example.com", api.example.org]
  http: [{directResponse: {status: 204}}]
`);
  assert.deepEqual(s.virtualHosts[0]?.hosts, [
    'reviews', 'reviews.shop', 'reviews.shop.svc', 'reviews.shop.svc.cluster.local', '*.example.com', 'api.example.org',
  ]);
});

test('a short destination host resolves to the ServiceEntry of the same service written as an FQDN', () => {
  const s = snap(`apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: ratings, namespace: shop}
spec:
  hosts: [ratings.shop.svc.cluster.local]
  ports: [{number: 9080, name: http}]
  resolution: STATIC
  endpoints: [{address: 10.2.0.1}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: ratings, namespace: shop}
spec:
  hosts: [ratings]
  http: [{route: [{destination: {host: ratings}}]}]
`);
  assert.equal(s.virtualHosts.length, 1, 'the VirtualService covers the ServiceEntry host');
  const d = s.virtualHosts[0]?.routes[0]?.destinations?.[0];
  assert.equal(s.clusters[d?.clusterId ?? -1]?.name, 'outbound|9080||ratings.shop.svc.cluster.local');
  assert.deepEqual(eps(s, d?.clusterId), ['10.2.0.1:9080']);
});

test('workloadSelector picks WorkloadEntries in the same namespace whose labels are a superset', () => {
  const we = (name: string, ns: string, address: string, labels: string, ports = '{}') => `apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {name: ${name}, namespace: ${ns}}
spec: {address: ${address}, labels: ${labels}, ports: ${ports}, weight: 3}
`;
  const s = snap(`apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: reviews, namespace: shop}
spec:
  hosts: [reviews]
  ports: [{number: 80, name: http, targetPort: 8080}]
  resolution: STATIC
  workloadSelector: {labels: {app: reviews}}
---
${we('r1', 'shop', '10.3.0.1', '{app: reviews, version: v1, zone: a}', '{http: 9999}')}---
${we('r2', 'shop', '10.3.0.2', '{app: reviews, version: v2}')}---
${we('other-app', 'shop', '10.3.0.3', '{app: details}')}---
${we('other-ns', 'elsewhere', '10.3.0.4', '{app: reviews}')}`);
  const vh = s.virtualHosts[0];
  assert.equal(vh?.routes[0]?.name, 'default');
  const c = s.clusters[vh?.routes[0]?.destinations?.[0]?.clusterId ?? -1];
  assert.deepEqual(c?.endpoints.map((e) => [e.address, e.port, e.weight, e.source]), [
    ['10.3.0.1', 9999, 3, 'WorkloadEntry/shop/r1'],
    ['10.3.0.2', 8080, 3, 'WorkloadEntry/shop/r2'],
  ]);
});

test('endpoint port: the endpoint port named like the service port, else targetPort, else the port number', () => {
  const s = snap(`apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: multi}
spec:
  hosts: [multi.example.com]
  ports:
  - {number: 80, name: http, targetPort: 8080}
  - {number: 9090, name: admin}
  resolution: STATIC
  endpoints:
  - {address: 10.4.0.1, ports: {http: 7070}}
  - {address: 10.4.0.2}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: multi}
spec:
  hosts: [multi.example.com]
  http:
  - match: [{uri: {prefix: /admin}}]
    route: [{destination: {host: multi.example.com, port: {number: 9090}}}]
  - route: [{destination: {host: multi.example.com}}]
`);
  const [admin, main] = s.virtualHosts[0]?.routes ?? [];
  assert.deepEqual(eps(s, admin?.destinations?.[0]?.clusterId), ['10.4.0.1:9090', '10.4.0.2:9090']);
  assert.deepEqual(eps(s, main?.destinations?.[0]?.clusterId), ['10.4.0.1:7070', '10.4.0.2:8080']);
  assert.equal(s.clusters[main?.destinations?.[0]?.clusterId ?? -1]?.name, 'outbound|80||multi.example.com', 'no port given: the first port');
});

test('ServiceEntry hosts without a VirtualService get a default route; zero endpoints give an empty cluster; DNS uses the host', () => {
  const s = snap(`apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: ext}
spec:
  hosts: [api.example.com, empty]
  ports: [{number: 443, name: https, protocol: HTTPS}]
  resolution: DNS
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: none}
spec:
  hosts: [nothing.internal]
  ports: [{number: 80, name: http}]
  resolution: STATIC
`);
  assert.deepEqual(s.virtualHosts.map((v) => [v.hosts[0], v.routes[0]?.name, v.routes[0]?.source]), [
    ['api.example.com', 'default', 'ServiceEntry/default/ext'],
    ['empty', 'default', 'ServiceEntry/default/ext'],
    ['nothing.internal', 'default', 'ServiceEntry/default/none'],
  ]);
  assert.deepEqual(s.clusters.map((c) => [c.name, c.endpoints.map((e) => `${e.address}:${e.port}`)]), [
    ['outbound|443||api.example.com', ['api.example.com:443']],
    ['outbound|443||empty.default.svc.cluster.local', ['empty:443']],
    ['outbound|80||nothing.internal', []],
  ]);
});

test('subsets filter endpoints by labels; the subset load balancer overrides the rule one; clusters are shared', () => {
  const s = snap(`apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: svc}
spec:
  hosts: [svc]
  ports: [{number: 80, name: http}]
  resolution: STATIC
  endpoints:
  - {address: 10.5.0.1, labels: {version: v1, track: stable}}
  - {address: 10.5.0.2, labels: {version: v2}}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: svc}
spec:
  host: svc
  trafficPolicy: {loadBalancer: {simple: ROUND_ROBIN}}
  subsets:
  - {name: v1, labels: {version: v1}}
  - {name: v2, labels: {version: v2}, trafficPolicy: {loadBalancer: {simple: RANDOM}}}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: svc}
spec:
  hosts: [svc]
  http:
  - match: [{headers: {x-canary: {}}}]
    route: [{destination: {host: svc, subset: v2}}]
  - route:
    - {destination: {host: svc, subset: v1}, weight: 75}
    - {destination: {host: svc, subset: v2}, weight: 25}
`);
  assert.deepEqual(s.clusters.map((c) => [c.name, c.lb, c.endpoints.map((e) => e.address)]), [
    ['outbound|80|v2|svc.default.svc.cluster.local', 'RANDOM', ['10.5.0.2']],
    ['outbound|80|v1|svc.default.svc.cluster.local', 'ROUND_ROBIN', ['10.5.0.1']],
  ]);
  const [canary, split] = s.virtualHosts[0]?.routes ?? [];
  assert.deepEqual(canary?.matches[0]?.headers, [{ name: 'x-canary', match: null }]);
  assert.deepEqual(split?.destinations?.map((d) => [d.clusterId, d.weight]), [[1, 75], [0, 25]]);
});

test('http rule fields are carried into the route spec', () => {
  const s = snap(`apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: front, namespace: web}
spec:
  hosts: [front.example.com]
  http:
  - name: api
    match:
    - name: m1
      uri: {regex: "/api/v[0-9]+/.*"}
      method: {exact: GET}
      headers: {x-env: {prefix: prod}}
      withoutHeaders: {x-debug: {}}
      queryParams: {q: {exact: "1"}}
      ignoreUriCase: true
      port: 8080
    rewrite: {uri: /, authority: backend}
    timeout: 1.5s
    headers:
      request: {set: {X-Set: a}, add: {X-Add: b}, remove: [X-Remove]}
      response: {set: {Cache-Control: no-store}}
    route:
    - destination: {host: front.example.com}
      headers: {response: {add: {X-Route: one}}}
  - match: [{uri: {exact: /old}}]
    redirect: {uri: /new}
  - directResponse: {status: 418, body: {string: teapot}}
`);
  const [api, redirect, direct] = s.virtualHosts[0]?.routes ?? [];
  assert.equal(api?.name, 'api');
  assert.equal(api?.source, 'VirtualService/web/front');
  assert.deepEqual(api?.matches, [{
    name: 'm1',
    uri: { kind: 'regex', value: '/api/v[0-9]+/.*' },
    scheme: null,
    method: { kind: 'exact', value: 'GET' },
    authority: null,
    headers: [{ name: 'x-env', match: { kind: 'prefix', value: 'prod' } }],
    withoutHeaders: [{ name: 'x-debug', match: null }],
    queryParams: [{ name: 'q', match: { kind: 'exact', value: '1' } }],
    ignoreUriCase: true,
    port: 8080,
  }]);
  assert.deepEqual(api?.rewrite, { uri: '/', authority: 'backend' });
  assert.equal(api?.timeoutMs, 1500);
  assert.deepEqual(api?.requestHeaders, { set: [['x-set', 'a']], add: [['x-add', 'b']], remove: ['x-remove'] });
  assert.deepEqual(api?.responseHeaders, { set: [['cache-control', 'no-store']], add: [], remove: [] });
  assert.deepEqual(api?.destinations?.[0]?.headers, { request: null, response: { set: [], add: [['x-route', 'one']], remove: [] } });
  assert.equal(redirect?.name, 'front.1');
  assert.deepEqual(redirect?.redirect, { uri: '/new', authority: null, scheme: null, port: 0, code: 301 });
  assert.equal(redirect?.destinations, null);
  assert.deepEqual(direct?.directResponse, { status: 418, body: 'teapot' });
  assert.equal(direct?.totalWeight, 0);
});

test('no Sidecar: one outbound listener 127.0.0.1:15001', () => {
  const s = snap('');
  assert.deepEqual(s, {
    generation: 1,
    listeners: [{ name: 'outbound_127.0.0.1_15001', direction: 'outbound', bind: '127.0.0.1', port: 15001, protocol: 'HTTP', inboundClusterId: -1, mtlsMode: 'DISABLE', appendForwardedFor: false, traffic: 'http', tcpRoutes: [] }],
    virtualHosts: [],
    clusters: [],
    authz: null,
  });
});

test('Sidecar: egress and ingress listeners, inbound clusters to defaultEndpoint', () => {
  const s = snap(`apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: {name: default}
spec:
  egress:
  - port: {number: 9000, protocol: http, name: egress-http}
    hosts: ["./*"]
  - port: {number: 9001}
    bind: 127.0.0.2
    hosts: ["*/*"]
  ingress:
  - port: {number: 9080, protocol: HTTP}
    defaultEndpoint: 127.0.0.1:8080
  - port: {number: 9443, protocol: HTTP, name: in-admin}
    bind: 10.0.0.5
    defaultEndpoint: "0.0.0.0:8443"
`);
  assert.deepEqual(s.listeners.map((l) => [l.name, l.direction, `${l.bind}:${l.port}`, l.protocol, l.inboundClusterId]), [
    ['inbound_127.0.0.1_9080', 'inbound', '127.0.0.1:9080', 'HTTP', 0],
    ['in-admin', 'inbound', '10.0.0.5:9443', 'HTTP', 1],
    ['egress-http', 'outbound', '127.0.0.1:9000', 'HTTP', -1],
    ['outbound_127.0.0.2_9001', 'outbound', '127.0.0.2:9001', '', -1], // no protocol: sniffed (auto)
  ]);
  assert.deepEqual(s.listeners.map((l) => l.traffic), ['http', 'http', 'http', 'auto']);
  assert.deepEqual(s.clusters.map((c) => [c.id, c.name, c.lb, c.endpoints.map((e) => `${e.address}:${e.port}`)]), [
    [0, 'inbound|9080||', 'ROUND_ROBIN', ['127.0.0.1:8080']],
    [1, 'inbound|9443||', 'ROUND_ROBIN', ['127.0.0.1:8443']],
  ]);
});

test('Sidecar with ingress only keeps the default outbound listener', () => {
  const s = snap(`apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: {name: in-only}
spec:
  ingress: [{port: {number: 9080}, defaultEndpoint: ":8080"}]
`);
  assert.deepEqual(s.listeners.map((l) => `${l.direction} ${l.bind}:${l.port}`), ['inbound 127.0.0.1:9080', 'outbound 127.0.0.1:15001']);
  assert.deepEqual(s.clusters[0]?.endpoints.map((e) => `${e.address}:${e.port}`), ['127.0.0.1:8080']);
});

test('a wildcard VirtualService host covers ServiceEntry hosts: no default route for them', () => {
  const s = snap(`apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: ext}
spec:
  hosts: [api.example.com, other.example.org]
  ports: [{number: 80, name: http}]
  resolution: DNS
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: wild}
spec:
  hosts: ["*.example.com"]
  http: [{route: [{destination: {host: api.example.com}}]}]
`);
  assert.deepEqual(s.virtualHosts.map((v) => [v.hosts, v.routes[0]?.name]), [
    [['*.example.com'], 'wild.0'],
    [['other.example.org'], 'default'],
  ]);
});

test('listener port names used twice: the later listener gets the generated name (warning)', () => {
  const r = compileYaml(`apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: {name: names}
spec:
  ingress: [{port: {number: 9080, name: http}, defaultEndpoint: "127.0.0.1:8080"}]
  egress: [{port: {number: 9090, name: http}, hosts: ["*/*"]}]
`);
  assert.deepEqual(errors(r), []);
  assert.deepEqual(r.snapshot?.listeners.map((l) => l.name), ['http', 'outbound_127.0.0.1_9090']);
  assert.ok(r.issues.some((i) => i.severity === 'warning' && i.path === 'spec.egress[0].port.name'));
});
