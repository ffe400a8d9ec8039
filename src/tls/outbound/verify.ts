// Server identity check for mesh mTLS: the peer is named by its SPIFFE URI SAN, not a hostname.
// Accepted: one of the expected ids (DestinationRule subjectAltNames, the endpoint's service
// account); with none expected, any id of the local trust domain (Istio's behaviour).
import { trustDomainOf, uriSans } from '../identity/spiffe.js';

/** null when accepted, else why not. */
export function spiffeMismatch(subjectAltName: string | undefined, expected: readonly string[], trustDomain: string): string | null {
  const uris = uriSans(subjectAltName);
  const ids = uris.filter((u) => u.startsWith('spiffe://'));
  if (ids.length === 0) return `the server certificate has no spiffe:// URI SAN (${uris.length === 0 ? 'none' : uris.join(', ')})`;
  if (expected.length > 0) {
    for (const id of ids) if (expected.includes(id)) return null;
    return `server identity ${ids.join(', ')} is not one of ${expected.join(', ')}`;
  }
  for (const id of ids) if (trustDomainOf(id) === trustDomain) return null;
  return `server identity ${ids.join(', ')} is outside trust domain ${trustDomain}`;
}
