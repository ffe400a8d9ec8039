// SPIFFE IDs: parsing by the SPIFFE spec's rules, and reading the one URI SAN of an X.509-SVID.
import { X509Certificate } from 'node:crypto';

export interface SpiffeId {
  /** the normalised URI, `spiffe://<trust domain><path>` */
  uri: string;
  trustDomain: string;
  /** `/ns/default/sa/web`; never empty, no trailing slash */
  path: string;
  /** Istio-shaped paths (`/ns/NS/sa/SA`) also give these */
  namespace?: string;
  serviceAccount?: string;
}

export class SpiffeIdError extends Error {
  override name = 'SpiffeIdError';
  readonly code = 'INVALID_SPIFFE_ID';
}

const TRUST_DOMAIN = /^[a-z0-9._-]+$/;
const SEGMENT = /^[a-zA-Z0-9._-]+$/;
const MAX_LENGTH = 2048;

/** Throws SpiffeIdError with the rule broken; a workload ID must have a path (`spiffe://td` alone is the trust domain). */
export function parseSpiffeId(value: string): SpiffeId {
  const fail = (why: string): never => { throw new SpiffeIdError(`"${value}" is not a SPIFFE ID: ${why}`); };
  if (value.length > MAX_LENGTH) fail(`longer than ${MAX_LENGTH} bytes`);
  if (!value.startsWith('spiffe://')) fail('expected spiffe://TRUST-DOMAIN/PATH');
  const rest = value.slice('spiffe://'.length);
  const slash = rest.indexOf('/');
  const trustDomain = slash < 0 ? rest : rest.slice(0, slash);
  const path = slash < 0 ? '' : rest.slice(slash);
  if (trustDomain === '') fail('empty trust domain');
  if (!TRUST_DOMAIN.test(trustDomain)) fail('the trust domain allows only lower-case letters, digits, ".", "-" and "_" (no port, user or upper case)');
  if (path === '') fail('a workload ID needs a path, e.g. /ns/NS/sa/SA');
  const segments = path.slice(1).split('/');
  for (const s of segments) {
    if (s === '') fail('empty path segment (double or trailing slash)');
    if (s === '.' || s === '..') fail('"." and ".." path segments are not allowed');
    if (!SEGMENT.test(s)) fail(`path segment "${s}" has a character outside [A-Za-z0-9._-] (no query, fragment or percent-encoding)`);
  }
  const id: SpiffeId = { uri: value, trustDomain, path };
  if (segments.length === 4 && segments[0] === 'ns' && segments[2] === 'sa') {
    id.namespace = segments[1] as string;
    id.serviceAccount = segments[3] as string;
  }
  return id;
}

export function isValidTrustDomain(td: string): boolean {
  return TRUST_DOMAIN.test(td) && td.length <= 255;
}

/** Parses and checks the trust domain: the error names both when they differ. */
export function parseSpiffeIdIn(value: string, trustDomain: string): SpiffeId {
  const id = parseSpiffeId(value);
  if (id.trustDomain !== trustDomain) throw new SpiffeIdError(`"${value}" is outside trust domain "${trustDomain}"`);
  return id;
}

/**
 * The SPIFFE ID of an X.509-SVID: exactly one `spiffe://` URI SAN (per the X509-SVID spec),
 * validated. Throws SpiffeIdError when there is none, several, or an invalid one.
 */
export function spiffeIdOf(cert: string | Buffer | X509Certificate): string {
  const x509 = cert instanceof X509Certificate ? cert : new X509Certificate(cert);
  const uris = sanEntries(x509.subjectAltName).filter((e) => e.startsWith('URI:')).map((e) => e.slice(4));
  if (uris.length !== 1) throw new SpiffeIdError(`certificate ${x509.serialNumber} has ${uris.length} URI SANs; an X.509-SVID has exactly one`);
  return parseSpiffeId(uris[0] as string).uri;
}

/** node prints SANs as `DNS:a, URI:b`, JSON-quoting a value that contains a comma or quote. */
export function sanEntries(san: string | undefined): string[] {
  if (san === undefined || san === '') return [];
  const out: string[] = [];
  const re = /([A-Za-z ]+):("(?:[^"\\]|\\.)*"|[^,]*)(?:, |$)/g;
  for (let m = re.exec(san); m !== null && m[0] !== ''; m = re.exec(san)) {
    const raw = m[2] as string;
    out.push(`${m[1]}:${raw.startsWith('"') ? (JSON.parse(raw) as string) : raw}`);
  }
  return out;
}

/** Every `URI:` entry of a certificate's subjectAltName string. */
export function uriSans(san: string | undefined): string[] {
  return sanEntries(san).filter((e) => e.startsWith('URI:')).map((e) => e.slice(4));
}

/** The first spiffe:// URI SAN of a peer certificate the TLS layer already verified, or ''. */
export function spiffeUriIn(san: string | undefined): string {
  for (const uri of uriSans(san)) if (uri.startsWith('spiffe://')) return uri;
  return '';
}

/** spiffe://<trust domain>/... → the trust domain ('' when not a SPIFFE id); lenient, for comparisons. */
export function trustDomainOf(spiffeId: string): string {
  if (!spiffeId.startsWith('spiffe://')) return '';
  const slash = spiffeId.indexOf('/', 9);
  return spiffeId.slice(9, slash < 0 ? spiffeId.length : slash);
}
