// The consistent-hash key of a request (DestinationRule loadBalancer.consistentHash): a header,
// a cookie, a query parameter or the client address. A missing cookie with a ttl is generated
// and set on the response, as Envoy does, so the client sticks from its next request on.
import { randomBytes } from 'node:crypto';
import type { HashSpec } from '../config/snapshot.js';
import { getHeader } from '../http/headers.js';
import { keyLength, queryParam } from '../routing/request-view.js';
import { hash32 } from '../upstream/hash/hash32.js';

export interface HashKeySource {
  headers: string[];
  query: string;
  setCookie: string | null;
}

/** The key's 32-bit hash (never negative), or -1 when the request has no key (the cluster's balancer picks at random). */
export function requestHashKey(src: HashKeySource, spec: HashSpec, remote: string): number {
  switch (spec.key) {
    case 'header': {
      const v = getHeader(src.headers, spec.name);
      return v === undefined || v === null ? -1 : hash32(v);
    }
    case 'sourceIp':
      return hash32(remote);
    case 'query': {
      const v = queryParam(src.query, spec.name);
      return v === null ? -1 : hash32(v);
    }
    case 'cookie': {
      const v = cookieValue(src.headers, spec.name);
      if (v !== null) return hash32(v);
      if (spec.cookieTtlMs <= 0) return -1;
      const fresh = randomBytes(8).toString('hex');
      src.setCookie = `${spec.name}=${fresh}; Max-Age=${Math.floor(spec.cookieTtlMs / 1000)}${spec.cookiePath === '' ? '' : `; Path=${spec.cookiePath}`}; HttpOnly`;
      return hash32(fresh);
    }
  }
}

/**
 * Value of cookie `name` across the request's Cookie headers, or null. One pass per header: a
 * cookie's '=' is looked for inside that cookie only (an indexOf('=') from each cookie to the end
 * of the header made `a;a;a…` quadratic).
 */
export function cookieValue(headers: readonly string[], name: string): string | null {
  for (let h = 0; h < headers.length; h += 2) {
    if (headers[h] !== 'cookie') continue;
    const s = headers[h + 1] as string;
    let i = 0;
    while (i < s.length) {
      while (s.charCodeAt(i) === 32) i++;
      let end = s.indexOf(';', i);
      if (end < 0) end = s.length;
      const eq = i + keyLength(s, i, end);
      if (eq > i && eq < end && eq - i === name.length && s.startsWith(name, i)) {
        let v = s.slice(eq + 1, end).trim();
        if (v.length >= 2 && v.charCodeAt(0) === 34 && v.charCodeAt(v.length - 1) === 34) v = v.slice(1, -1);
        return v;
      }
      i = end + 1;
    }
  }
  return null;
}
