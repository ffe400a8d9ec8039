// The one place that shapes synthetic replies (errors, redirects, direct responses): a short
// text body and `x-meshlet-flags` carrying the Envoy-style response flag. The downstream adapter
// frames and writes them (ResponseSink.reply).
import type { ProxyError } from './errors.js';
import { statusLine } from './status-lines.js';

export const FLAGS_HEADER = 'x-meshlet-flags';

export interface Reply {
  /** flat [lowercase name, value, ...], no framing headers */
  headers: string[];
  /** the body's bytes, one char per byte (latin1) */
  body: string;
}

export function errorReply(err: ProxyError, requestId: string): Reply {
  const headers = [FLAGS_HEADER, err.flag, 'content-type', 'text/plain; charset=utf-8'];
  if (requestId !== '') headers.push('x-request-id', requestId);
  return { headers, body: bodyFor(err) };
}

function bodyFor(err: ProxyError): string {
  const comma = err.flag.indexOf(',');
  switch (comma < 0 ? err.flag : err.flag.slice(0, comma)) {
    case 'NR': return `no route (NR): ${err.message}\n`;
    case 'NC': return `no cluster (NC): ${err.message}\n`;
    case 'UH': return `no healthy upstream (UH): ${err.message}\n`;
    // Envoy's own words, which name no address: the detail is in the access log
    case 'UF': case 'UC': case 'UO': return err.message;
    case 'UT': return `upstream request timeout (UT)\n`;
    case 'UPE': return `bad upstream response (UPE): ${err.message}\n`;
    case 'DPE': return err.status === 400 ? `bad request: ${err.message}\n` : `${statusLine(err.status).slice(4).toLowerCase()}: ${err.message}\n`;
    case 'IE': return 'internal error\n';
    case 'FI': return 'fault filter abort\n';
    case 'RBAC': return 'RBAC: access denied';
    default: return `${err.message} (${err.flag})\n`;
  }
}

export function redirectReply(location: string, requestId: string): Reply {
  return { headers: ['location', location, 'x-request-id', requestId], body: '' };
}

export function directReply(body: string, requestId: string): Reply {
  return { headers: ['content-type', 'text/plain; charset=utf-8', 'x-request-id', requestId], body: utf8AsLatin1(body) };
}

/** Replies are written as latin1 (one char, one byte): a UTF-8 body from the config is turned into its bytes first. */
function utf8AsLatin1(s: string): string {
  for (let i = 0; i < s.length; i++) {
    if (s.charCodeAt(i) > 0x7f) return Buffer.from(s, 'utf8').toString('latin1');
  }
  return s;
}
