// Response trailer fields on their way to the client: checked like header values (no CR, LF or
// NUL unless the codec checked them), lowercased, and without the fields a trailer section must
// not carry (framing, routing, hop-by-hop: RFC 9110 §6.5.1). gRPC's grpc-status, grpc-message
// and -bin metadata pass unchanged.
import { hasForbiddenChar, isHopByHop } from './headers.js';
import { lowerHeaderName } from './header-names.js';

const NOT_IN_TRAILERS = new Set(['content-length', 'content-type', 'content-encoding', 'content-range', 'host', 'trailer', 'date']);

/** The trailers to forward (flat [lowercase name, value, ...]); null when one carries CR, LF or NUL. */
export function copyTrailers(raw: readonly string[], validated: boolean): string[] | null {
  const out: string[] = [];
  for (let i = 0; i < raw.length; i += 2) {
    const name = lowerHeaderName(raw[i] as string);
    const value = raw[i + 1] as string;
    if (!validated && (hasForbiddenChar(name) || hasForbiddenChar(value))) return null;
    if (NOT_IN_TRAILERS.has(name) || isHopByHop(name)) continue;
    out.push(name, value);
  }
  return out;
}
