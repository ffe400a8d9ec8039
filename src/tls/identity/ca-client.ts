// One signing request to `meshlet ca serve`: HTTPS POST of a CSR, authenticated by a join token or
// by a client certificate; the server is trusted through `caPem` (or the system roots without it).
import { MAX_BODY_BYTES, SIGN_PATH, type ErrorResponse, type SignRequest, type SignResponse } from '../ca/protocol.js';

export type SignAuth = { token: string } | { keyPem: string; certPem: string };

export class CaRequestError extends Error {
  override name = 'CaRequestError';
  /** 0 when the CA could not be reached or answered garbage */
  constructor(readonly status: number, message: string) { super(message); }
}

const TIMEOUT_MS = 15_000;

export async function requestCertificate(caUrl: string, caPem: string | undefined, auth: SignAuth, body: SignRequest): Promise<SignResponse> {
  const url = new URL(SIGN_PATH, caUrl);
  const text = JSON.stringify(body);
  // node:https only when a certificate is requested: the control thread of a sidecar that never
  // asks a CA does not load it (~0.1 MB of heap)
  const { request } = await import('node:https');
  return new Promise((resolve, reject) => {
    const req = request(url, {
      method: 'POST',
      // renewals are rare and each carries its own client certificate: no pooled sockets
      agent: false,
      ...(caPem === undefined ? {} : { ca: caPem }),
      ...('token' in auth ? {} : { key: auth.keyPem, cert: auth.certPem }),
      headers: {
        'content-type': 'application/json',
        'content-length': Buffer.byteLength(text),
        ...('token' in auth ? { authorization: `Bearer ${auth.token}` } : {}),
      },
      timeout: TIMEOUT_MS,
    }, (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (c: Buffer) => {
        size += c.length;
        if (size > MAX_BODY_BYTES) res.destroy(new CaRequestError(0, 'the CA answer is too large'));
        else chunks.push(c);
      });
      res.once('error', reject);
      res.once('end', () => {
        let json: Partial<SignResponse & ErrorResponse>;
        try { json = JSON.parse(Buffer.concat(chunks).toString('utf8')) as Partial<SignResponse & ErrorResponse>; } catch {
          reject(new CaRequestError(0, `the CA answered ${res.statusCode} with a body that is not JSON`));
          return;
        }
        if (res.statusCode === 200 && typeof json.certPem === 'string' && typeof json.caPem === 'string') resolve(json as SignResponse);
        else reject(new CaRequestError(res.statusCode ?? 0, `the CA refused (${res.statusCode}): ${json.error ?? 'no reason given'}`));
      });
    });
    req.once('timeout', () => req.destroy(new CaRequestError(0, `no answer from the CA at ${url.origin} within ${TIMEOUT_MS} ms`)));
    req.once('error', (err) => reject(err instanceof CaRequestError ? err : new CaRequestError(0, `cannot reach the CA at ${url.origin}: ${err.message}`)));
    req.end(text);
  });
}
