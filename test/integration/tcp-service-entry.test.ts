// A ServiceEntry TCP port with a loopback address: meshlet listens on that address and port, as
// Istio's listener on the service's VIP, so the app connects to the service's address; a
// non-loopback address is warned about and not opened; a reload adding such a listener is refused
// (listeners change on restart) while the running config keeps serving.
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, test } from 'node:test';
import { controlRequest } from '../../src/control/control-client.js';
import { defaultControlSocket } from '../../src/control/socket-path.js';
import { sidecarYaml, startMeshlet, type Meshlet } from '../helpers/meshlet.js';
import { freePort } from '../helpers/ports.js';
import { metricValue, nameServer, waitForMetrics, type TcpServer } from '../helpers/tcp.js';

const VIP = '127.0.0.77';
let m: Meshlet;
let db: TcpServer;
let port: number;
let base = '';

function entry(name: string, address: string, p: number): string {
  return `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: ${name}}
spec:
  hosts: [${name}.test]
  addresses: [${address}, 10.9.9.9]
  resolution: STATIC
  ports: [{number: ${p}, name: tcp-db}]
  endpoints: [{address: 127.0.0.1, ports: {tcp-db: ${db.port}}}]
---
`;
}

before(async () => {
  db = await nameServer('db');
  port = await freePort();
  base = entry('db', VIP, port);
  m = await startMeshlet(base, { workers: 2 });
});

after(async () => {
  await m?.stop();
  await db?.close();
});

/** What the service at host:port says before it closes. */
function ask(host: string, p: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ port: p, host });
    let text = '';
    s.on('data', (d: Buffer) => { text += d.toString(); });
    s.on('end', () => { s.end(); resolve(text); });
    s.on('error', reject);
  });
}

test('the app connects to the ServiceEntry\'s loopback address; meshlet proxies it to the endpoints, counted for the service', async () => {
  assert.equal(await ask(VIP, port), 'db');
  assert.match(m.output(), /TCP port \d+ is not listened on at 10\.9\.9\.9: meshlet listens on loopback addresses only/);
  await waitForMetrics(m.adminPort, (t) => metricValue(t, 'istio_tcp_connections_closed_total', 'destination_service="db.test"') === 1);
});

test('a reload that would add such a listener is refused and names why; the running one keeps serving', async () => {
  const other = await freePort();
  const reply = await controlRequest(defaultControlSocket(m.adminPort), { op: 'apply', yaml: `${sidecarYaml(m.port)}${base}${entry('db2', '127.0.0.78', other)}` });
  assert.equal(reply.ok, false);
  assert.match(String((reply.errors as string[]).join('\n')), /listeners would change .*127\.0\.0\.78:\d+.* change only on restart/);
  assert.equal(await ask(VIP, port), 'db');
});
