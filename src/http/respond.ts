// The one place that writes synthetic replies (errors, redirects, direct responses): a short
// text body and `x-meshlet-flags` carrying the Envoy-style response flag.
import type { HttpResponse } from '../uws.js';
import type { ProxyError } from './errors.js';
import { statusLine } from './status-lines.js';

export const FLAGS_HEADER = 'x-meshlet-flags';

/** Must run inside res.cork (or synchronously inside the uWS request handler). */
export function writeError(res: HttpResponse, err: ProxyError, requestId: string, closeConnection: boolean): void {
  res.writeStatus(statusLine(err.status));
  res.writeHeader(FLAGS_HEADER, err.flag);
  res.writeHeader('content-type', 'text/plain; charset=utf-8');
  if (requestId !== '') res.writeHeader('x-request-id', requestId);
  res.end(bodyFor(err), closeConnection);
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
    case 'DPE': return `bad request: ${err.message}\n`;
    case 'IE': return 'internal error\n';
    case 'FI': return 'fault filter abort\n';
    case 'RBAC': return 'RBAC: access denied';
    default: return `${err.message} (${err.flag})\n`;
  }
}

/** `closeConnection`: shutting down, the client is told to reconnect (Connection: close) and the connection ends. */
export function writeRedirect(res: HttpResponse, code: number, location: string, requestId: string, closeConnection: boolean): void {
  res.writeStatus(statusLine(code));
  res.writeHeader('location', location);
  res.writeHeader('x-request-id', requestId);
  res.end(undefined, closeConnection);
}

export function writeDirect(res: HttpResponse, status: number, body: string, requestId: string, closeConnection: boolean): void {
  res.writeStatus(statusLine(status));
  res.writeHeader('content-type', 'text/plain; charset=utf-8');
  res.writeHeader('x-request-id', requestId);
  res.end(body, closeConnection);
}
