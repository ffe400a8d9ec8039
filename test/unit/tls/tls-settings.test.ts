// The mesh transport's negotiated parameters, as two Envoys would agree them: TLS 1.3 with
// AES-128-GCM and X25519 between meshlets.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import type net from 'node:net';
import { test } from 'node:test';
import tls from 'node:tls';
import { clientContextOptions, serverContextOptions } from '../../../src/tls/tls-settings.js';
import { identityOf, makeCa, makeEcdsaLeaf } from '../../helpers/certs.js';

async function negotiate(client: tls.ConnectionOptions = {}): Promise<{ cipher: string; version: string; group: string | undefined }> {
  const ca = makeCa('settings');
  const server = identityOf(await makeEcdsaLeaf(ca, 'spiffe://cluster.local/ns/b/sa/b'), ca.certPem);
  const srv = tls.createServer({ ...serverContextOptions(server), requestCert: true, rejectUnauthorized: true }, (s) => s.end());
  srv.listen(0, '127.0.0.1');
  await once(srv, 'listening');
  const clientId = identityOf(await makeEcdsaLeaf(ca, 'spiffe://cluster.local/ns/a/sa/a'), ca.certPem);
  const socket = tls.connect({ ...clientContextOptions(clientId), ...client, port: (srv.address() as net.AddressInfo).port, host: '127.0.0.1', checkServerIdentity: () => undefined });
  await once(socket, 'secureConnect');
  const result = { cipher: socket.getCipher().standardName, version: socket.getProtocol() ?? '', group: (socket.getEphemeralKeyInfo() as { name?: string } | null)?.name };
  socket.destroy();
  srv.close();
  return result;
}

test('meshlet to meshlet: TLS 1.3, TLS_AES_128_GCM_SHA256 (Envoy\'s first choice), X25519', async () => {
  assert.deepEqual(await negotiate({}), { cipher: 'TLS_AES_128_GCM_SHA256', version: 'TLSv1.3', group: 'X25519' });
});
