// TLS passthrough: on a TLS egress port meshlet reads the ClientHello's SNI, picks the destination
// (VirtualService tls: sniHosts, else the ServiceEntry whose host it names) and relays the app's
// own TLS untouched: the client verifies the upstream's certificate for the name it asked for.
// No SNI match, or bytes that are not TLS: the connection is closed, counted NR.
import assert from 'node:assert/strict';
import net from 'node:net';
import tls from 'node:tls';
import { after, before, test } from 'node:test';
import { makeCa, makeLeaf, type Ca } from '../helpers/certs.js';
import { startMeshlet, type Meshlet } from '../helpers/meshlet.js';
import { freePort } from '../helpers/ports.js';
import { metricValue, tcpExchange, waitForMetrics } from '../helpers/tcp.js';

let ca: Ca;
let m: Meshlet;
let port: number;
const servers: tls.Server[] = [];

/** A TLS app server for `names` that answers each connection with `reply` and the SNI it saw. */
async function tlsApp(names: string[], reply: string): Promise<number> {
  const leaf = makeLeaf(ca, 'spiffe://apps/app', { dns: names });
  const server = tls.createServer({ key: leaf.keyPem, cert: leaf.certPem }, (s) => {
    s.on('error', () => undefined);
    s.end(`${reply} ${(s as tls.TLSSocket & { servername?: string }).servername}`);
  });
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return (server.address() as net.AddressInfo).port;
}

function entry(host: string, endpointPort: number): string {
  return `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: ${host.replace(/\./g, '-')}}
spec:
  hosts: [${host}]
  resolution: STATIC
  ports: [{number: ${port}, name: tls, protocol: TLS}]
  endpoints: [{address: 127.0.0.1, ports: {tls: ${endpointPort}}}]
---
`;
}

before(async () => {
  ca = makeCa('apps');
  const a = await tlsApp(['a.example'], 'A');
  const b = await tlsApp(['b.example', 'c.example'], 'B');
  port = await freePort();
  m = await startMeshlet(`apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: {name: tls}
spec:
  egress:
  - port: {number: ${port}, protocol: TLS, name: tls}
    hosts: ["*/*"]
---
${entry('a.example', a)}${entry('b.example', b)}apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: c}
spec:
  hosts: [c.example]
  tls:
  - match: [{port: ${port}, sniHosts: [c.example]}]
    route: [{destination: {host: b.example}}]
`, { noSidecar: true, workers: 2 });
});

after(async () => {
  await m?.stop();
  for (const s of servers) s.close();
});

function connectTls(servername: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = tls.connect({ port, host: '127.0.0.1', servername, ca: ca.certPem });
    let text = '';
    let secure = false;
    s.on('secureConnect', () => { secure = true; });
    s.on('data', (d: Buffer) => { text += d.toString(); });
    s.on('end', () => (secure ? resolve(text) : reject(new Error('closed before the TLS handshake'))));
    s.on('error', reject);
  });
}

test('SNI picks the upstream; the app\'s TLS goes through untouched (the client verifies the app\'s certificate)', async () => {
  assert.equal(await connectTls('a.example'), 'A a.example');
  assert.equal(await connectTls('b.example'), 'B b.example');
  assert.equal(await connectTls('c.example'), 'B c.example', 'the tls: route for c.example goes to b.example');
  await waitForMetrics(m.adminPort, (t) => metricValue(t, 'istio_tcp_connections_closed_total', 'destination_service="a.example"', 'response_flags="-"') === 1
    && metricValue(t, 'istio_tcp_connections_closed_total', 'destination_service="b.example"', 'response_flags="-"') === 2);
});

test('an SNI no route takes, and plaintext on the TLS port: closed, counted NR; the port keeps serving', async () => {
  await assert.rejects(connectTls('nobody.example'), /socket disconnected|ECONNRESET|closed/i);
  const plain = await tcpExchange(port, 'GET / HTTP/1.1\r\nHost: a.example\r\n\r\n');
  assert.equal(plain.data.length, 0);
  await waitForMetrics(m.adminPort, (t) => metricValue(t, 'istio_tcp_connections_closed_total', 'response_flags="NR"') === 2);
  assert.equal(await connectTls('a.example'), 'A a.example');
});
