// CaClientIdentitySource: a key (generated in the piscina pool, never leaving the process) and a
// certificate from `meshlet ca serve` — first with a one-time join token, then renewed at 80% of
// its lifetime with the current certificate as credential, retrying with backoff on failure.
// The next key and CSR are made as soon as a certificate arrives, so a renewal is one round trip.
import { readFileSync } from 'node:fs';
import { createLogger, type Logger } from '../../log.js';
import { runCrypto } from '../ca/crypto-pool.js';
import type { KeyType } from '../ca/key-type.js';
import { requestCertificate, type SignAuth } from './ca-client.js';
import { BaseIdentitySource, type WorkloadIdentity } from './source.js';
import { parseSpiffeId } from './spiffe.js';
import { parsePemCerts, verifyChainAndIdentity } from './verify.js';

export interface CaClientOptions {
  /** https://HOST:PORT of `meshlet ca serve` */
  caUrl: string;
  /** one-time join token (`meshlet ca token`), used for the first certificate only */
  token: string;
  /** the SPIFFE ID to request; the token must be bound to it */
  identity: string;
  /** trust bundle for the CA server's certificate (PEM); or caFile; without both, the system roots */
  caPem?: string;
  caFile?: string;
  /** requested lifetime ("1h"); the CA caps it */
  ttl?: string;
  /** the key generated for each CSR (default: DEFAULT_KEY_TYPE) */
  keyType?: KeyType;
  /** share of the lifetime after which to renew (default 0.8) */
  renewAt?: number;
  log?: Logger;
}

type Csr = { keyPem: string; csrPem: string };

const RETRY_FIRST_MS = 1000;
const RETRY_MAX_MS = 60_000;

export class CaClientIdentitySource extends BaseIdentitySource {
  readonly #opts: CaClientOptions;
  readonly #trust: string | undefined;
  #timer: NodeJS.Timeout | null = null;
  /** never rejects (null when pre-generation failed); kept across retries until a certificate arrives */
  #nextCsr: Promise<Csr | null> | null = null;
  #closed = false;

  constructor(opts: CaClientOptions) {
    super(opts.log ?? createLogger('info', 'meshlet-identity'), `CA ${opts.caUrl}`);
    parseSpiffeId(opts.identity);
    const url = new URL(opts.caUrl);
    if (url.protocol !== 'https:') throw new Error(`CA URL must be https://HOST:PORT, got "${opts.caUrl}"`);
    this.#opts = opts;
    this.#trust = opts.caPem ?? (opts.caFile === undefined ? undefined : readTrustFile(opts.caFile));
  }

  async start(): Promise<WorkloadIdentity> {
    const id = await this.fetch({ token: this.#opts.token });
    this.setIdentity(id);
    this.log.info({ spiffeId: id.spiffeId, notAfter: id.notAfter.toISOString(), ca: this.#opts.caUrl }, 'workload identity issued');
    this.scheduleRenewal(id);
    return id;
  }

  /** New key, CSR, signature; the answer is checked as a peer would check it before it is used. */
  private async fetch(auth: SignAuth): Promise<WorkloadIdentity> {
    const csr = (await this.#nextCsr) ?? (await this.newCsr());
    this.#nextCsr = Promise.resolve(csr);
    const { keyPem, csrPem } = csr;
    const res = await requestCertificate(this.#opts.caUrl, this.#trust, auth, { csr: csrPem, ...(this.#opts.ttl === undefined ? {} : { ttl: this.#opts.ttl }) });
    const v = verifyChainAndIdentity({ cert: res.certPem, caPem: res.caPem, keyPem, expectedId: this.#opts.identity });
    return { spiffeId: v.spiffeId, certPem: res.certPem, keyPem, caPem: res.caPem, notBefore: v.notBefore, notAfter: v.notAfter };
  }

  private newCsr(): Promise<Csr> {
    return runCrypto({ kind: 'create-csr', spiffeId: this.#opts.identity, ...(this.#opts.keyType === undefined ? {} : { keyType: this.#opts.keyType }) });
  }

  private scheduleRenewal(id: WorkloadIdentity): void {
    this.#nextCsr = this.newCsr().catch((err: unknown) => {
      this.log.warn({ err: (err as Error).message }, 'could not prepare the next key; the renewal will make one');
      return null;
    });
    // from now, not from notBefore: notBefore is backdated for clock skew
    const now = Date.now();
    const delay = Math.max(0, (id.notAfter.getTime() - now) * (this.#opts.renewAt ?? 0.8));
    this.arm(delay, RETRY_FIRST_MS);
  }

  private arm(delayMs: number, nextRetryMs: number): void {
    if (this.#closed) return;
    // ref'd: a started source holds the process until close(), like a server
    this.#timer = setTimeout(() => { void this.renew(nextRetryMs); }, Math.min(delayMs, 2 ** 31 - 1));
  }

  private async renew(retryMs: number): Promise<void> {
    const cur = this.current();
    try {
      const id = await this.fetch({ keyPem: cur.keyPem, certPem: cur.certPem });
      if (this.#closed) return;
      this.log.info({ spiffeId: id.spiffeId, notAfter: id.notAfter.toISOString() }, 'workload identity renewed');
      this.setIdentity(id);
      this.scheduleRenewal(id);
    } catch (err) {
      if (this.#closed) return;
      const left = cur.notAfter.getTime() - Date.now();
      // retry well before expiry: never more than a quarter of what is left, never faster than 250 ms
      const wait = left > 0 ? Math.max(250, Math.min(retryMs, left / 4)) : retryMs;
      this.log.error({ err: (err as Error).message, spiffeId: cur.spiffeId, notAfter: cur.notAfter.toISOString(), retryInMs: Math.round(wait), expired: left <= 0 },
        left > 0 ? 'workload identity renewal failed; retrying' : 'workload identity renewal failed and the current certificate has expired');
      this.arm(wait, Math.min(retryMs * 2, RETRY_MAX_MS));
    }
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#nextCsr = null;
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.stopExpiryWatch();
  }
}

function readTrustFile(file: string): string {
  let pem: string;
  try { pem = readFileSync(file, 'utf8'); } catch (err) { throw new Error(`CA trust bundle ${file}: ${(err as Error).message}`); }
  parsePemCerts(pem, `CA trust bundle ${file}`);
  return pem;
}
