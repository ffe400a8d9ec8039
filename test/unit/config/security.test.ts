// Security kinds: PeerAuthentication → per-listener mTLS mode (Istio precedence), AuthorizationPolicy
// validation (each error names resource and field path) and compilation, DestinationRule tls and
// endpoint service accounts → cluster TLS and expected identities.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatIssue, type Snapshot } from '../../../src/config/index.js';
import { compileYaml, errors, expectError, serviceEntry, warnings } from './helpers.js';

function snap(text: string): Snapshot {
  const r = compileYaml(text);
  assert.deepEqual(errors(r).map(formatIssue), []);
  assert.ok(r.snapshot);
  return r.snapshot;
}

function warned(text: string, ...parts: string[]): void {
  const lines = warnings(compileYaml(text)).map(formatIssue);
  assert.ok(lines.some((l) => parts.every((p) => l.includes(p))), `no warning with ${parts.join(' | ')} in:\n${lines.join('\n')}`);
}

const SIDECAR = `apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: {name: sc, namespace: shop}
spec:
  ingress:
  - {port: {number: 9080, protocol: HTTP}, defaultEndpoint: "127.0.0.1:8080"}
  - {port: {number: 9443, protocol: HTTP}, defaultEndpoint: "127.0.0.1:8443"}
  egress: [{hosts: ["./*"]}]
`;

function pa(name: string, ns: string, spec: string): string {
  return `apiVersion: security.istio.io/v1beta1
kind: PeerAuthentication
metadata: {name: ${name}, namespace: ${ns}}
spec:
${spec.replace(/^\n/, '').replace(/^/gm, '  ')}
`;
}

const modes = (s: Snapshot) => s.listeners.map((l) => `${l.direction}:${l.port}:${l.mtlsMode}`);

test('no PeerAuthentication: inbound listeners are PERMISSIVE (Istio default), outbound DISABLE', () => {
  assert.deepEqual(modes(snap(SIDECAR)), ['inbound:9080:PERMISSIVE', 'inbound:9443:PERMISSIVE', 'outbound:15001:DISABLE']);
});

test('mesh < namespace < workload; UNSET inherits; port-level by listener or app port', () => {
  const mesh = pa('mesh', 'istio-system', 'mtls: {mode: STRICT}');
  assert.deepEqual(modes(snap(`${SIDECAR}---\n${mesh}`)).slice(0, 2), ['inbound:9080:STRICT', 'inbound:9443:STRICT']);
  const ns = pa('ns', 'shop', 'mtls: {mode: DISABLE}');
  assert.deepEqual(modes(snap(`${SIDECAR}---\n${mesh}---\n${ns}`)).slice(0, 2), ['inbound:9080:DISABLE', 'inbound:9443:DISABLE']);
  const unsetNs = pa('ns', 'shop', 'mtls: {mode: UNSET}');
  assert.deepEqual(modes(snap(`${SIDECAR}---\n${mesh}---\n${unsetNs}`)).slice(0, 2), ['inbound:9080:STRICT', 'inbound:9443:STRICT']);
  const wl = pa('wl', 'shop', `
selector: {matchLabels: {app: shop}}
mtls: {mode: UNSET}
portLevelMtls:
  8443: {mode: PERMISSIVE}
  9080: {mode: UNSET}`);
  assert.deepEqual(modes(snap(`${SIDECAR}---\n${mesh}---\n${ns}---\n${wl}`)).slice(0, 2), ['inbound:9080:DISABLE', 'inbound:9443:PERMISSIVE']);
  warned(`${SIDECAR}---\n${wl}`, 'PeerAuthentication/wl', 'spec.selector.matchLabels', 'cannot check its own workload labels');
});

test('PeerAuthentication precedence warnings: second of a level ignored, root selector ignored, unknown port', () => {
  const text = `${SIDECAR}---\n${pa('a', 'shop', 'mtls: {mode: STRICT}')}---\n${pa('b', 'shop', 'mtls: {mode: DISABLE}')}---
${pa('root-wl', 'istio-system', 'selector: {matchLabels: {app: x}}\nmtls: {mode: DISABLE}')}---
${pa('wl', 'shop', 'selector: {matchLabels: {app: x}}\nportLevelMtls: {7777: {mode: STRICT}}')}`;
  assert.deepEqual(modes(snap(text)).slice(0, 2), ['inbound:9080:STRICT', 'inbound:9443:STRICT']);
  warned(text, 'PeerAuthentication/b', 'PeerAuthentication/shop/a already sets the namespace-wide mode');
  warned(text, 'PeerAuthentication/root-wl: spec.selector:', 'root namespace', 'ignored');
  warned(text, 'PeerAuthentication/wl: spec.portLevelMtls.7777:', 'no effect');
});

test('PeerAuthentication errors: unknown mode, port-level without selector, bad ports', () => {
  assert.match(expectError(pa('m', 'shop', 'mtls: {mode: ON}'), 'spec.mtls.mode', 'PeerAuthentication/m', 0), /unknown mTLS mode ON/);
  assert.match(expectError(pa('p', 'shop', 'portLevelMtls: {8080: {mode: STRICT}}'), 'spec.portLevelMtls', 'PeerAuthentication/p', 0),
    /mesh\/namespace peer authentication cannot have port level mTLS/);
  const sel = 'selector: {matchLabels: {app: a}}\n';
  assert.match(expectError(pa('z', 'shop', `${sel}portLevelMtls: {0: {mode: STRICT}}`), 'spec.portLevelMtls.0', 'PeerAuthentication/z', 0), /must be in 1\.\.65535/);
  expectError(pa('n', 'shop', `${sel}portLevelMtls: {http: {mode: STRICT}}`), 'spec.portLevelMtls.http', 'PeerAuthentication/n', 0);
  expectError(pa('e', 'shop', `${sel}portLevelMtls: {}`), 'spec.portLevelMtls', 'PeerAuthentication/e', 0);
  expectError(pa('v', 'shop', `${sel}portLevelMtls: {80: {mode: LOUD}}`), 'spec.portLevelMtls.80.mode', 'PeerAuthentication/v', 0);
});

test('security kinds need security.istio.io (v1beta1 or v1)', () => {
  const r = compileYaml('apiVersion: networking.istio.io/v1\nkind: PeerAuthentication\nmetadata: {name: x}\nspec: {}\n');
  assert.ok(warnings(r).some((w) => /skipped: kind PeerAuthentication/.test(w.message)));
  assert.equal(snap('apiVersion: security.istio.io/v1beta1\nkind: AuthorizationPolicy\nmetadata: {name: x}\nspec: {}\n').authz?.allow.length, 1);
});

function ap(name: string, spec: string): string {
  return `apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: ${name}, namespace: shop}
spec:
${spec.replace(/^\n/, '').replace(/^/gm, '  ')}
`;
}
const AP = (name: string) => `AuthorizationPolicy/${name}`;

test('AuthorizationPolicy errors name the resource and field path', () => {
  const cases: [string, string, RegExp][] = [
    ['action: CUSTOM\nprovider: {name: ext}\nrules: [{}]', 'spec.action', /CUSTOM .* not supported/],
    ['action: PERMIT', 'spec.action', /unknown action PERMIT/],
    ['action: DENY', 'spec.rules', /DENY action without `rules`/],
    ['provider: {name: x}\nrules: [{}]', 'spec.provider', /only with CUSTOM/],
    ['rules: [{from: []}]', 'spec.rules[0].from', /must not be empty/],
    ['rules: [{from: [{}]}]', 'spec.rules[0].from[0].source', /required field is missing/],
    ['rules: [{from: [{source: {}}]}]', 'spec.rules[0].from[0].source', /`from.source` must not be empty/],
    ['rules: [{to: [{operation: {}}]}]', 'spec.rules[0].to[0].operation', /`to.operation` must not be empty/],
    ['rules: [{from: [{source: {ipBlocks: ["10.0.0.0/33"]}}]}]', 'spec.rules[0].from[0].source.ipBlocks[0]', /bad CIDR range/],
    ['rules: [{from: [{source: {notRemoteIpBlocks: ["nope"]}}]}]', 'spec.rules[0].from[0].source.notRemoteIpBlocks[0]', /bad IP address/],
    ['rules: [{from: [{source: {principals: [""]}}]}]', 'spec.rules[0].from[0].source.principals[0]', /non-empty string/],
    ['rules: [{from: [{source: {serviceAccounts: ["a/b/c"]}}]}]', 'spec.rules[0].from[0].source.serviceAccounts[0]', /namespace\/serviceAccount/],
    ['rules: [{from: [{source: {serviceAccounts: ["a/b"], notPrincipals: ["x"]}}]}]', 'spec.rules[0].from[0].source', /cannot set serviceAccounts with namespaces or principals/],
    ['rules: [{to: [{operation: {ports: ["http"]}}]}]', 'spec.rules[0].to[0].operation.ports[0]', /bad port \(http\)/],
    ['rules: [{to: [{operation: {notPorts: [70000]}}]}]', 'spec.rules[0].to[0].operation.notPorts[0]', /bad port/],
    ['rules: [{to: [{operation: {paths: ["/a/{*}/b"]}}]}]', 'spec.rules[0].to[0].operation.paths[0]', /path templates/],
    ['rules: [{when: [{key: "request.auth.claim[iss]", values: [x]}]}]', 'spec.rules[0].when[0].key', /unknown key request\.auth\.claim\[iss\]/],
    ['rules: [{when: [{key: destination.ip, values: [10.0.0.1]}]}]', 'spec.rules[0].when[0].key', /destination\.ip is not supported/],
    ['rules: [{when: [{key: source.colour, values: [red]}]}]', 'spec.rules[0].when[0].key', /unknown attribute key source\.colour/],
    ['rules: [{when: [{key: "request.headers[]", values: [x]}]}]', 'spec.rules[0].when[0].key', /header name/],
    ['rules: [{when: [{key: source.ip}]}]', 'spec.rules[0].when[0]', /at least one of `values` or `notValues`/],
    ['rules: [{when: [{key: source.ip, values: ["1.2.3.4/40"]}]}]', 'spec.rules[0].when[0].values[0]', /bad CIDR/],
    ['rules: [{when: [{key: destination.port, notValues: ["x"]}]}]', 'spec.rules[0].when[0].notValues[0]', /bad port/],
    ['rules: [{when: [{values: [a]}]}]', 'spec.rules[0].when[0].key', /required field is missing/],
    ['selector: {matchLabels: {app: a}}\ntargetRefs: [{kind: Service, name: a}]', 'spec.selector', /only one of targetRefs or workloadSelector/],
  ];
  for (const [spec, path, reason] of cases) assert.match(expectError(ap('bad', spec), path, AP('bad'), 0), reason, spec);
});

test('AuthorizationPolicy warnings: selector, targetRef (ignored), spiffe:// principals, inner *', () => {
  const text = [
    ap('sel', 'selector: {matchLabels: {app: shop}}\nrules: [{}]'),
    ap('ref', 'targetRefs: [{kind: Gateway, group: gateway.networking.k8s.io, name: gw}]\naction: DENY\nrules: [{}]'),
    ap('jwt', 'rules: [{from: [{source: {requestPrincipals: ["*"], principals: ["spiffe://cluster.local/ns/a/sa/b"]}}], to: [{operation: {paths: ["/a*b"]}}]}]'),
  ].join('---\n');
  warned(text, 'AuthorizationPolicy/sel: spec.selector.matchLabels:', 'applied to this workload');
  warned(text, 'AuthorizationPolicy/ref: spec.targetRefs:', 'ignored by meshlet');
  warned(text, 'spec.rules[0].from[0].source.principals[0]:', 'without "spiffe://"');
  warned(text, 'spec.rules[0].to[0].operation.paths[0]:', 'matched literally');
  const s = snap(text);
  assert.deepEqual(s.authz?.deny, [], 'the targetRef DENY policy does not apply to the sidecar');
  assert.deepEqual(s.authz?.allow.map((p) => p.name), ['shop/sel', 'shop/jwt']);
  assert.deepEqual(s.authz?.allow[1]?.rules[0]?.from?.[0]?.find((p) => p.attr === 'principal')?.strings, [{ kind: 'exact', value: 'cluster.local/ns/a/sa/b' }]);
});

test('AuthorizationPolicy compiles to plain predicates: string forms, CIDR words, lower-case names', () => {
  const s = snap(ap('c', `
action: AUDIT
rules:
- from: [{source: {principals: ["*"], notNamespaces: ["dev-*"], ipBlocks: ["10.1.0.0/16"]}}]
  to: [{operation: {hosts: ["*.Example.COM"], ports: ["80"]}}]
  when: [{key: "request.headers[X-User]", values: ["*-admin"]}]`));
  assert.deepEqual(s.authz?.audit[0], {
    name: 'shop/c',
    rules: [{
      from: [[
        { attr: 'principal', header: null, not: false, strings: [{ kind: 'present', value: '' }], cidrs: [], ports: [] },
        { attr: 'namespace', header: null, not: true, strings: [{ kind: 'prefix', value: 'dev-' }], cidrs: [], ports: [] },
        { attr: 'sourceIp', header: null, not: false, strings: [], cidrs: [{ v6: false, words: [0x0a010000], masks: [0xffff0000], text: '10.1.0.0/16' }], ports: [] },
      ]],
      to: [[
        { attr: 'host', header: null, not: false, strings: [{ kind: 'suffix', value: '.example.com' }], cidrs: [], ports: [] },
        { attr: 'port', header: null, not: false, strings: [], cidrs: [], ports: [80] },
      ]],
      when: [{ attr: 'header', header: 'x-user', not: false, strings: [{ kind: 'suffix', value: '-admin' }], cidrs: [], ports: [] }],
    }],
  });
  assert.deepEqual(s.authz?.allow, []);
  assert.deepEqual(structuredClone(s.authz), s.authz);
});

function dr(spec: string): string {
  return `apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: svc-dr}
spec:
  host: svc
${spec.replace(/^\n/, '').replace(/^/gm, '  ')}
`;
}
const SE = serviceEntry('svc').replace('ports: [{number: 80, name: http, protocol: HTTP}]', 'ports: [{number: 80, name: http, protocol: HTTP}, {number: 81, name: alt}]')
  .replace('endpoints: [{address: 10.1.0.1}]', 'endpoints: [{address: 10.1.0.1, labels: {version: v1}, serviceAccount: svc-sa}]');
const VS = `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: vs}
spec:
  hosts: [front]
  http:
  - match: [{uri: {prefix: /a}}]
    route: [{destination: {host: svc, port: {number: 80}}}]
  - match: [{uri: {prefix: /b}}]
    route: [{destination: {host: svc, port: {number: 81}}}]
  - match: [{uri: {prefix: /c}}]
    route: [{destination: {host: svc, subset: v1, port: {number: 80}}}]
  - route: [{destination: {host: svc, subset: v1, port: {number: 81}}}]
`;
const tlsOf = (s: Snapshot) => Object.fromEntries(s.clusters.map((c) => [c.name, c.tls]));

test('DestinationRule tls: top level, port level (no inheritance), subset override', () => {
  const mtls = { mode: 'ISTIO_MUTUAL', subjectAltNames: ['spiffe://cluster.local/ns/default/sa/svc-sa'], sni: 'svc.local' };
  const s = snap(`${SE}---\n${VS}---\n${dr(`
trafficPolicy:
  tls: {mode: ISTIO_MUTUAL, subjectAltNames: ["spiffe://cluster.local/ns/default/sa/svc-sa"], sni: svc.local}
  portLevelSettings:
  - port: {number: 81}
    connectionPool: {tcp: {maxConnections: 5}}
subsets:
- name: v1
  labels: {version: v1}
  trafficPolicy:
    tls: {mode: DISABLE}
    portLevelSettings:
    - port: {number: 81}
      tls: {mode: ISTIO_MUTUAL}`)}`);
  assert.deepEqual(tlsOf(s), {
    'outbound|80||svc.default.svc.cluster.local': mtls,
    'outbound|81||svc.default.svc.cluster.local': null,
    'outbound|80|v1|svc.default.svc.cluster.local': null,
    'outbound|81|v1|svc.default.svc.cluster.local': { mode: 'ISTIO_MUTUAL', subjectAltNames: [], sni: null },
  });
  const inherit = snap(`${SE}---\n${VS}---\n${dr('trafficPolicy: {tls: {mode: ISTIO_MUTUAL}}\nsubsets: [{name: v1, labels: {version: v1}}]')}`);
  assert.ok(Object.values(tlsOf(inherit)).every((t) => t?.mode === 'ISTIO_MUTUAL'), 'subsets without tls inherit the rule tls');
  assert.ok(Object.values(tlsOf(snap(`${SE}---\n${VS}`))).every((t) => t === null), 'no DestinationRule: no tls');
});

test('DestinationRule tls errors: SIMPLE/MUTUAL refused, user certificates with ISTIO_MUTUAL, bad mode, port without number', () => {
  const DR = 'DestinationRule/svc-dr';
  assert.match(expectError(dr('trafficPolicy: {tls: {mode: SIMPLE}}'), 'spec.trafficPolicy.tls.mode', DR, 0), /SIMPLE .* not supported/);
  assert.match(expectError(dr('subsets: [{name: v1, trafficPolicy: {tls: {mode: MUTUAL, clientCertificate: /c.pem}}}]'), 'spec.subsets[0].trafficPolicy.tls.mode', DR, 0), /MUTUAL/);
  assert.match(expectError(dr('trafficPolicy: {tls: {mode: ISTIO_MUTUAL, credentialName: x}}'), 'spec.trafficPolicy.tls.credentialName', DR, 0), /cannot specify credentialName/);
  assert.match(expectError(dr('trafficPolicy: {tls: {mode: TLS13}}'), 'spec.trafficPolicy.tls.mode', DR, 0), /unknown TLS mode TLS13/);
  expectError(dr('trafficPolicy: {portLevelSettings: [{tls: {mode: ISTIO_MUTUAL}}]}'), 'spec.trafficPolicy.portLevelSettings[0].port', DR, 0);
  expectError(dr('trafficPolicy: {portLevelSettings: [{port: {number: 0}, tls: {mode: DISABLE}}]}'), 'spec.trafficPolicy.portLevelSettings[0].port.number', DR, 0);
  warned(dr('trafficPolicy: {tls: {mode: ISTIO_MUTUAL, insecureSkipVerify: true}}'), 'spec.trafficPolicy.tls.insecureSkipVerify:', 'no effect');
});

test('endpoint serviceAccount: ServiceEntry endpoints and WorkloadEntries → expected SPIFFE identity', () => {
  const s = snap(`${SE}---\n${VS}`);
  assert.deepEqual(s.clusters[0]?.endpoints.map((e) => e.serviceAccount), ['spiffe://cluster.local/ns/default/sa/svc-sa']);
  const we = snap(`apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: reviews, namespace: shop}
spec:
  hosts: [reviews]
  ports: [{number: 80, name: http}]
  resolution: STATIC
  workloadSelector: {labels: {app: reviews}}
---
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {name: r1, namespace: shop}
spec: {address: 10.3.0.1, labels: {app: reviews}, serviceAccount: bookinfo-reviews}
---
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {name: r2, namespace: shop}
spec: {address: 10.3.0.2, labels: {app: reviews}}
`);
  assert.deepEqual(we.clusters[0]?.endpoints.map((e) => e.serviceAccount), ['spiffe://cluster.local/ns/shop/sa/bookinfo-reviews', null]);
  assert.match(expectError(serviceEntry('svc').replace('{address: 10.1.0.1}', '{address: 10.1.0.1, serviceAccount: Bad_SA}'),
    'spec.endpoints[0].serviceAccount', 'ServiceEntry/svc', 0), /invalid service account name/);
});
