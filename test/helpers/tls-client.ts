// One HTTPS request with (or without) a client certificate, for mTLS tests: the status, headers,
// body and the certificate the server presented — or the error that ended it.
import { X509Certificate, createHash } from 'node:crypto';
import https from 'node:https';
import type { TLSSocket } from 'node:tls';

export interface TlsReply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
  serverCert: X509Certificate | null;
  /** the protocol the handshake chose over ALPN (false: none) */
  alpn: string | false;
}

export interface TlsGetOptions {
  ca: string;
  cert?: string;
  key?: string;
  path?: string;
  host?: string;
  headers?: Record<string, string>;
  /** default: a fresh connection */
  agent?: https.Agent;
  /** protocols offered over ALPN (default: none) */
  alpn?: string[];
}

/** Mesh certificates name no host: the server is checked by chain only here (tests look at its SAN). */
export function tlsGet(port: number, o: TlsGetOptions): Promise<TlsReply> {
  return new Promise((resolve, reject) => {
    const req = https.request({
      host: '127.0.0.1', port, path: o.path ?? '/', method: 'GET', agent: o.agent ?? false, ca: o.ca, cert: o.cert, key: o.key,
      headers: { host: o.host ?? 'svc', ...o.headers }, checkServerIdentity: () => undefined, timeout: 5000,
      ...(o.alpn === undefined ? {} : { ALPNProtocols: o.alpn }),
    }, (res) => {
      const serverCert = (res.socket as TLSSocket).getPeerX509Certificate() ?? null;
      const alpn = (res.socket as TLSSocket).alpnProtocol ?? false;
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => { body += d; });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body, serverCert, alpn }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end();
  });
}

/** Envoy's Hash= of x-forwarded-client-cert: sha256 of the certificate's DER, hex. */
export function certHash(certPem: string): string {
  return createHash('sha256').update(new X509Certificate(certPem).raw).digest('hex');
}
