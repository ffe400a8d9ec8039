// The control thread fetches every jwksUri of the running RequestAuthentications (or finds it by
// OpenID discovery at the issuer) and hands the key set to the workers, as istiod fetches JWKS
// and pushes them inline to its proxies: one fetch per sidecar instead of one per worker, and the
// same keys on every worker. Each fetch is bounded (its rule's timeout for the whole exchange,
// 1 MiB) and checked (JSON, a JWK set whose every key Node can import); keys are refreshed every
// --jwks-refresh (default 20 min, Istio's). A failed fetch keeps the last good keys serving and is
// retried sooner; until a first fetch answers, requests whose token needs the keys wait (the
// worker's JWT filter), then get 401 if there are none.
import { MAX_JWKS_BYTES, jwksProblem } from '../config/validate/request-authentication.js';
import type { Snapshot } from '../config/snapshot.js';
import type { JwksUpdate } from '../filters/jwt/keys.js';
import type { Logger } from '../log.js';
import type { MeshletMetric } from '../stats/prometheus.js';

export const DEFAULT_JWKS_REFRESH_MS = 20 * 60_000;
const RETRY_MS = 30_000;

interface Entry {
  uri: string;
  timeoutMs: number;
  timer: NodeJS.Timeout | null;
  fetching: boolean;
  ok: number;
  failed: number;
  /** a first result (keys or failure) was published */
  known: boolean;
}

export class JwksService {
  private readonly entries = new Map<string, Entry>();
  private closed = false;

  constructor(
    private readonly publish: (u: JwksUpdate) => void,
    private readonly log: Logger,
    private readonly refreshMs = DEFAULT_JWKS_REFRESH_MS,
  ) {}

  /** The jwksUris of a new generation: new ones are fetched now; ones no longer named stop refreshing. */
  update(snapshot: Snapshot): void {
    const wanted = new Map<string, number>();
    for (const r of snapshot.jwtRules ?? []) {
      if (r.jwksUri === null) continue;
      wanted.set(r.jwksUri, Math.min(wanted.get(r.jwksUri) ?? Infinity, r.timeoutMs));
    }
    for (const [uri, e] of this.entries) {
      if (wanted.has(uri)) continue;
      if (e.timer !== null) clearTimeout(e.timer);
      this.entries.delete(uri);
    }
    for (const [uri, timeoutMs] of wanted) {
      const e = this.entries.get(uri);
      if (e !== undefined) {
        e.timeoutMs = timeoutMs;
        continue;
      }
      const entry: Entry = { uri, timeoutMs, timer: null, fetching: false, ok: 0, failed: 0, known: false };
      this.entries.set(uri, entry);
      void this.fetch(entry);
    }
  }

  private async fetch(e: Entry): Promise<void> {
    if (e.fetching || this.closed) return;
    e.fetching = true;
    let next = this.refreshMs;
    try {
      const jwks = await fetchJwks(e.uri, e.timeoutMs);
      e.ok++;
      this.publish({ uri: e.uri, jwks, error: null });
      if (!e.known) this.log.info({ jwksUri: e.uri }, 'JWKS fetched');
    } catch (err) {
      e.failed++;
      next = Math.min(this.refreshMs, RETRY_MS);
      const error = (err as Error).message;
      // workers keep the last good keys; without any, tokens needing them are refused (401)
      this.publish({ uri: e.uri, jwks: null, error });
      this.log.warn({ jwksUri: e.uri, err: error, retryInMs: next }, e.ok > 0 ? 'JWKS refresh failed; the last good keys keep serving' : 'JWKS fetch failed; tokens needing these keys are refused until a fetch succeeds');
    } finally {
      e.fetching = false;
      e.known = true;
    }
    if (this.closed || this.entries.get(e.uri) !== e) return;
    e.timer = setTimeout(() => { e.timer = null; void this.fetch(e); }, next);
    e.timer.unref();
  }

  metrics(): MeshletMetric[] {
    const out: MeshletMetric[] = [];
    for (const e of this.entries.values()) {
      out.push({ name: 'meshlet_jwks_fetch_total', help: 'JWKS fetches for RequestAuthentication, by jwksUri and result', type: 'counter', labels: { jwks_uri: e.uri, result: 'ok' }, value: e.ok });
      out.push({ name: 'meshlet_jwks_fetch_total', help: 'JWKS fetches for RequestAuthentication, by jwksUri and result', type: 'counter', labels: { jwks_uri: e.uri, result: 'error' }, value: e.failed });
    }
    return out;
  }

  close(): void {
    this.closed = true;
    for (const e of this.entries.values()) if (e.timer !== null) clearTimeout(e.timer);
  }
}

/** GET `url` within `deadline` (epoch ms): the body as text, at most MAX_JWKS_BYTES, status 200 only. */
async function getText(url: string, deadline: number, totalMs: number, what: string): Promise<string> {
  const left = deadline - Date.now();
  if (left <= 0) throw new Error(`${what}: timed out`);
  const signal = AbortSignal.timeout(left);
  // undici (≈ 9 MB RSS) loads with the first jwksUri, not with every sidecar
  const { request } = await import('undici');
  let res: Awaited<ReturnType<typeof request>>;
  try {
    res = await request(url, { signal, headersTimeout: left, bodyTimeout: left, headers: { accept: 'application/json' } });
  } catch (err) {
    throw new Error(`${what} ${url}: ${signal.aborted ? `no answer within ${totalMs} ms` : (err as Error).message}`);
  }
  if (res.statusCode !== 200) {
    await res.body.dump().catch(() => undefined);
    throw new Error(`${what} ${url}: status ${res.statusCode}`);
  }
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of res.body) {
      size += (chunk as Buffer).length;
      if (size > MAX_JWKS_BYTES) {
        res.body.destroy();
        throw new Error(`${what} ${url}: larger than ${MAX_JWKS_BYTES} bytes`);
      }
      chunks.push(chunk as Buffer);
    }
  } catch (err) {
    if ((err as Error).message.includes('larger than')) throw err;
    throw new Error(`${what} ${url}: ${signal.aborted ? 'timed out reading the body' : (err as Error).message}`);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** The key set of a jwksUri (or `discovery:<issuer>`), checked; throws with the reason. */
export async function fetchJwks(uri: string, timeoutMs: number): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  let url = uri;
  if (uri.startsWith('discovery:')) {
    const issuer = uri.slice('discovery:'.length).replace(/\/$/, '');
    const text = await getText(`${issuer}/.well-known/openid-configuration`, deadline, timeoutMs, 'OpenID discovery');
    let doc: unknown;
    try {
      doc = JSON.parse(text);
    } catch {
      throw new Error(`OpenID discovery ${issuer}: not JSON`);
    }
    const found = typeof doc === 'object' && doc !== null ? (doc as { jwks_uri?: unknown }).jwks_uri : undefined;
    if (typeof found !== 'string' || !safeUrl(found)) throw new Error(`OpenID discovery ${issuer}: no usable jwks_uri (https://, or http:// on loopback)`);
    url = found;
  }
  const jwks = await getText(url, deadline, timeoutMs, 'JWKS');
  const problem = jwksProblem(jwks);
  if (problem !== null) throw new Error(`JWKS ${url}: ${problem}`);
  return jwks;
}

function safeUrl(s: string): boolean {
  try {
    const u = new URL(s);
    return u.protocol === 'https:' || (u.protocol === 'http:' && (u.hostname === 'localhost' || u.hostname === '[::1]' || /^127\./.test(u.hostname)));
  } catch {
    return false;
  }
}
