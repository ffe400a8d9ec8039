// Request heads for the h1 codec: validates method, path and header names/values (undici's rules)
// and builds the request line + headers as one latin1 string. Framing headers are meshlet's own:
// the caller's content-length / transfer-encoding are dropped and one of the suffixes below ends the head.
import { isTokenString, isValidHeaderValue, isValidPath } from './chars.js';

/** Why the last buildHead() returned null. */
let headError = '';
export function lastHeadError(): string {
  return headError;
}

/** Methods whose requests carry a body by definition: they get `content-length: 0` when empty (as undici does). */
export function expectsPayload(method: string): boolean {
  return method === 'POST' || method === 'PUT' || method === 'PATCH' || method === 'QUERY' || method === 'PROPFIND' || method === 'PROPPATCH';
}

/** Ends a head for a request without body. */
export function noBodySuffix(method: string): string {
  return expectsPayload(method) ? 'content-length: 0\r\n\r\n' : '\r\n';
}

export const CHUNKED_SUFFIX = 'transfer-encoding: chunked\r\n\r\n';

export function lengthSuffix(length: number): string {
  return `content-length: ${length}\r\n\r\n`;
}

/**
 * "METHOD path HTTP/1.1\r\n" + "name: value\r\n"... (no blank line: a framing suffix ends it), or
 * null when something cannot be written safely (see lastHeadError). Adds `host: defaultHost` when
 * the headers carry no host.
 */
export function buildHead(method: string, path: string, headers: string[], defaultHost: string): string | null {
  if (!isTokenString(method)) return invalid(`invalid request method "${method}"`);
  if (!isValidPath(path)) return invalid('invalid request path');
  // plain concatenation: V8 builds a rope the socket write flattens straight into its buffer;
  // measured faster than joining a reused array (whose length reset is a runtime call)
  let head = `${method} ${path} HTTP/1.1\r\n`;
  let host = false;
  for (let i = 0; i < headers.length; i += 2) {
    const name = headers[i] as string;
    const value = headers[i + 1] as string;
    if (!isTokenString(name)) return invalid(`invalid request header name "${name}"`);
    if (!isValidHeaderValue(value)) return invalid(`invalid request header ${name} value`);
    const len = name.length;
    if (len === 4 && (name === 'host' || name.toLowerCase() === 'host')) {
      if (host) return invalid('duplicate host header');
      host = true;
    } else if ((len === 14 || len === 17) && isFraming(name)) {
      continue;
    }
    head += name + ': ' + value + '\r\n';
  }
  if (!host) head += 'host: ' + defaultHost + '\r\n';
  return head;
}

function isFraming(name: string): boolean {
  if (name === 'content-length' || name === 'transfer-encoding') return true;
  const lower = name.toLowerCase();
  return lower === 'content-length' || lower === 'transfer-encoding';
}

function invalid(detail: string): null {
  headError = detail;
  return null;
}
