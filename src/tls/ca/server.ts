// `meshlet ca serve`: the HTTPS signing service. Authenticates a CSR by a one-time join token
// (first certificate) or by the caller's current certificate (renewal), checks the CSR asks for
// exactly that identity, and issues a certificate whose SANs and validity the CA alone decides.
import { X509Certificate } from 'node:crypto';
import https from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { TLSSocket } from 'node:tls';
import type { Logger } from '../../log.js';
import { parseSpiffeIdIn, SpiffeIdError } from '../identity/spiffe.js';
import { IdentityError, verifyChainAndIdentity } from '../identity/verify.js';
import { runCrypto } from './crypto-pool.js';
import { issueServerCert, issueWorkloadCert } from './issuer.js';
import { MAX_BODY_BYTES, SIGN_PATH, type SignRequest, type SignResponse } from './protocol.js';
import type { LoadedCa } from './store.js';
import { checkToken, consumeToken, restoreToken } from './tokens.js';
import { parseTtlMs } from './ttl.js';

export interface CaServerOptions {
  ca: LoadedCa;
  host: string;
  port: number;
  log: Logger;
  /** requested lifetimes are capped to this (default 24h) */
  maxTtlMs?: number;
  /** lifetime when the request names none (default 1h, capped by maxTtlMs) */
  defaultTtlMs?: number;
  /** extra DNS names / IPs for the server certificate (besides host, localhost, 127.0.0.1, ::1) */
  serverNames?: string[];
}

export interface CaServer { url: string; port: number; close(): Promise<void> }

const SERVER_CERT_TTL_MS = 7 * 86_400_000;
const SERVER_CERT_RENEW_MS = 86_400_000;

/** A refusal the caller caused: status + the reason sent back as {"error": reason}. */
class Refusal extends Error {
  constructor(readonly status: number, message: string) { super(message); }
}

export async function startCaServer(opts: CaServerOptions): Promise<CaServer> {
  const { ca, log } = opts;
  const maxTtlMs = opts.maxTtlMs ?? 86_400_000;
  const defaultTtlMs = Math.min(opts.defaultTtlMs ?? 3_600_000, maxTtlMs);
  const names = [opts.host, 'localhost', '127.0.0.1', '::1', ...(opts.serverNames ?? [])].filter((h) => h !== '0.0.0.0' && h !== '::');
  const tlsContext = async (): Promise<{ key: string; cert: string; ca: string }> => {
    const s = await issueServerCert(ca, names, SERVER_CERT_TTL_MS);
    return { key: s.keyPem, cert: s.certPem, ca: ca.certPem };
  };

  const server = https.createServer({
    ...(await tlsContext()),
    minVersion: 'TLSv1.2',
    // ask for a client certificate but let the handler refuse with a JSON reason
    requestCert: true,
    rejectUnauthorized: false,
  });
  server.headersTimeout = 10_000;
  server.requestTimeout = 30_000;
  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    handle(req, res).catch((err: unknown) => {
      const refusal = err instanceof Refusal;
      const status = refusal ? err.status : 500;
      const reason = refusal ? err.message : 'internal error';
      if (refusal) log.warn({ status, reason, remote: req.socket.remoteAddress }, 'signing request refused');
      else log.error({ err }, 'signing request failed');
      reply(res, status, { error: reason });
    });
  });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'https://ca');
    if (url.pathname !== SIGN_PATH) throw new Refusal(404, `no such endpoint; POST ${SIGN_PATH}`);
    if (req.method !== 'POST') throw new Refusal(405, `use POST ${SIGN_PATH}`);
    const body = parseBody(req, await readBody(req), url);
    const ttlMs = Math.min(body.ttl === undefined ? defaultTtlMs : ttlOf(body.ttl), maxTtlMs);
    const auth = req.headers.authorization;
    const issued = auth !== undefined
      ? await signWithToken(auth, body.csr, ttlMs)
      : await signRenewal(req.socket as TLSSocket, body.csr, ttlMs);
    log.info({ spiffeId: issued.spiffeId, serial: issued.serial, notAfter: issued.notAfter.toISOString(), via: auth !== undefined ? 'join-token' : 'renewal' }, 'certificate issued');
    const out: SignResponse = { spiffeId: issued.spiffeId, certPem: issued.certPem, caPem: issued.caPem, notBefore: issued.notBefore.toISOString(), notAfter: issued.notAfter.toISOString() };
    reply(res, 200, out);
  }

  async function signWithToken(auth: string, csrPem: string, ttlMs: number): Promise<Awaited<ReturnType<typeof issueWorkloadCert>>> {
    const m = /^Bearer\s+(\S+)$/i.exec(auth);
    if (m === null) throw new Refusal(401, 'Authorization must be "Bearer <join token>"');
    const token = checkToken(ca.dir, m[1] as string);
    if (!token.ok) throw new Refusal(401, token.reason);
    const csr = await inspect(csrPem);
    if (csr.spiffeId !== token.spiffeId) throw new Refusal(403, `the join token is for ${token.spiffeId}; the CSR asks for ${csr.spiffeId}`);
    // consumed before signing: two concurrent requests with one token cannot both pass
    if (!consumeToken(ca.dir, token.hash)) throw new Refusal(401, 'join token already used');
    try {
      return await issueWorkloadCert(ca, csr.publicKeyPem, csr.spiffeId, ttlMs);
    } catch (err) {
      restoreToken(ca.dir, token.hash);
      throw err;
    }
  }

  async function signRenewal(socket: TLSSocket, csrPem: string, ttlMs: number): Promise<Awaited<ReturnType<typeof issueWorkloadCert>>> {
    const peer: X509Certificate | undefined = socket.getPeerX509Certificate();
    if (peer === undefined) throw new Refusal(401, 'no join token and no client certificate');
    let current: string;
    try {
      // the TLS handshake proved the caller holds this certificate's key; is it ours and alive?
      current = verifyChainAndIdentity({ cert: peer, caPem: ca.certPem, trustDomain: ca.trustDomain }).spiffeId;
    } catch (err) {
      if (!(err instanceof IdentityError)) throw err;
      throw new Refusal(401, clientCertReason(err));
    }
    const csr = await inspect(csrPem);
    if (csr.spiffeId !== current) throw new Refusal(403, `renewal keeps the identity: the client certificate is ${current}; the CSR asks for ${csr.spiffeId}`);
    return issueWorkloadCert(ca, csr.publicKeyPem, csr.spiffeId, ttlMs);
  }

  async function inspect(csrPem: string): Promise<{ spiffeId: string; publicKeyPem: string }> {
    const r = await runCrypto({ kind: 'inspect-csr', csrPem });
    if (!r.ok) throw new Refusal(400, r.reason);
    // any DNS/IP/other SAN in the CSR is ignored: the CA issues the identity and nothing else
    if (r.spiffeIds.length !== 1) throw new Refusal(400, `the CSR must request exactly one SPIFFE ID as a URI SAN (it requests ${r.spiffeIds.length})`);
    try {
      return { spiffeId: parseSpiffeIdIn(r.spiffeIds[0] as string, ca.trustDomain).uri, publicKeyPem: r.publicKeyPem };
    } catch (err) {
      if (err instanceof SpiffeIdError) throw new Refusal(400, err.message);
      throw err;
    }
  }

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host, () => { server.off('error', reject); resolve(); });
  });
  // the server certificate is short-lived too: re-issued daily, swapped in without a restart
  const renew = setInterval(() => {
    tlsContext().then((c) => server.setSecureContext(c), (err: unknown) => log.error({ err }, 'server certificate renewal failed'));
  }, SERVER_CERT_RENEW_MS).unref();
  const port = (server.address() as AddressInfo).port;
  const host = opts.host.includes(':') ? `[${opts.host}]` : opts.host;
  return {
    url: `https://${host}:${port}`,
    port,
    close: () => new Promise<void>((resolve) => {
      clearInterval(renew);
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}

function clientCertReason(err: IdentityError): string {
  switch (err.code) {
    case 'EXPIRED': return 'client certificate expired';
    case 'NOT_YET_VALID': return 'client certificate not yet valid';
    case 'UNTRUSTED': return 'client certificate is not issued by this CA';
    default: return `client certificate refused: ${err.message}`;
  }
}

function ttlOf(value: string): number {
  try {
    return parseTtlMs(value, 'ttl');
  } catch (err) {
    throw new Refusal(400, (err as Error).message);
  }
}

function readBody(req: IncomingMessage): Promise<string> {
  const declared = Number(req.headers['content-length'] ?? 0);
  if (declared > MAX_BODY_BYTES) return Promise.reject(new Refusal(413, `request body larger than ${MAX_BODY_BYTES} bytes`));
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY_BYTES) {
        req.removeAllListeners('data');
        req.resume();
        reject(new Refusal(413, `request body larger than ${MAX_BODY_BYTES} bytes`));
        return;
      }
      chunks.push(c);
    });
    req.once('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.once('error', reject);
  });
}

function parseBody(req: IncomingMessage, text: string, url: URL): SignRequest {
  if ((req.headers['content-type'] ?? '').includes('json')) {
    let v: unknown;
    try { v = JSON.parse(text); } catch { throw new Refusal(400, 'the body is not valid JSON'); }
    const o = v as Partial<SignRequest> | null;
    if (o === null || typeof o !== 'object' || typeof o.csr !== 'string') throw new Refusal(400, 'expected {"csr": "<PEM>", "ttl": "24h"?}');
    if (o.ttl !== undefined && typeof o.ttl !== 'string') throw new Refusal(400, 'ttl must be a string like "24h"');
    return o.ttl === undefined ? { csr: o.csr } : { csr: o.csr, ttl: o.ttl };
  }
  const ttl = url.searchParams.get('ttl');
  return ttl === null ? { csr: text } : { csr: text, ttl };
}

function reply(res: ServerResponse, status: number, body: object): void {
  if (res.headersSent) { res.destroy(); return; }
  const text = JSON.stringify(body);
  // a refused request body may still be arriving: close rather than read it
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), ...(status === 413 ? { connection: 'close' } : {}) });
  res.end(text);
}
