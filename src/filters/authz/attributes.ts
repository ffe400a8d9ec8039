// What the authz evaluator reads from a request: a small interface the caller fills (or
// implements on its own request context), and a reusable implementation over the flat
// [name, value, ...] header array the listener already keeps (src/routing/request-view.ts).

import type { JwtAuth } from '../jwt/auth.js';

export interface AuthzAttributes {
  method: string;
  /** path without the query string, already normalised (src/http/path-normalize.ts): compared as is */
  path: string;
  /** Host / :authority as received (Istio compares it case-insensitively, port included) */
  host: string;
  /** the listener (destination) port the request arrived on */
  port: number;
  /** mTLS peer identity `cluster.local/ns/x/sa/y` (a `spiffe://` prefix is tolerated); null for plaintext */
  principal: string | null;
  /** the connection's peer address (IPv4, IPv6 or IPv4-mapped IPv6) */
  sourceIp: string;
  /** value of the lower-case header `name`, repeated headers joined with ','; null when absent */
  headerValue(name: string): string | null;
  /** the JWT the request carried, verified (RequestAuthentication); null without one */
  auth: JwtAuth | null;
}

/** `name`'s value in a flat [lower-case name, value, ...] array; repeated headers joined with ',' (as Envoy). */
export function flatHeaderValue(headers: readonly string[], name: string): string | null {
  let found: string | null = null;
  for (let i = 0; i < headers.length; i += 2) {
    if (headers[i] !== name) continue;
    const v = headers[i + 1] as string;
    found = found === null ? v : `${found},${v}`;
  }
  return found;
}

const NO_HEADERS: readonly string[] = [];

/**
 * A reusable attribute object: a worker keeps one, sets the fields before each evaluate() (the
 * check is synchronous, so one instance serves every request) and points `headers` at the
 * request's flat header array. No per-request closure or copy.
 */
export class AuthzRequest implements AuthzAttributes {
  method = '';
  path = '';
  host = '';
  port = 0;
  principal: string | null = null;
  sourceIp = '';
  headers: readonly string[] = NO_HEADERS;
  auth: JwtAuth | null = null;

  headerValue(name: string): string | null {
    return flatHeaderValue(this.headers, name);
  }
}
