// What a web page could make a browser send to the admin port, refused before routing:
// - DNS rebinding: a page on evil.example whose name then resolves to 127.0.0.1 reads the admin
//   as same-origin, but its requests carry `Host: evil.example`. Only hosts no page can own are
//   taken: `localhost`, any IP literal (`127.0.0.1`, `[::1]`, a pod IP a kubelet probe uses) and
//   the admin's configured bind host, with any port.
// - Cross-site requests: any page can send a CORS "simple" POST (form content types, no custom
//   header) without asking. A state-changing request must carry `x-meshlet-admin` or a JSON
//   content type, which a browser sends cross-site only after a preflight the admin never grants.
import type http from 'node:http';
import { isIP } from 'node:net';

const ADMIN_HEADER = 'x-meshlet-admin';

export interface Refusal {
  status: number;
  body: string;
}

/** The host name of a Host header value (`[::1]:15000` → `::1`, `Example:80` → `example`); null when malformed. */
function hostName(value: string): string | null {
  if (value.startsWith('[')) {
    const end = value.indexOf(']');
    const rest = value.slice(end + 1);
    return end < 0 || !(rest === '' || /^:\d*$/.test(rest)) ? null : value.slice(1, end);
  }
  const m = /^([^:]+)(?::\d*)?$/.exec(value);
  return m === null ? null : (m[1] as string).toLowerCase();
}

function hostAllowed(value: string | undefined, bindHost: string): boolean {
  if (value === undefined) return true; // HTTP/1.0 without Host: no browser sends that
  const name = hostName(value);
  if (name === null) return false;
  return name === 'localhost' || isIP(name) !== 0 || name === bindHost.toLowerCase();
}

/** True when a browser could not have sent this request cross-site without a CORS preflight. */
function notSimple(req: http.IncomingMessage): boolean {
  if (req.headers[ADMIN_HEADER] !== undefined) return true;
  const type = (req.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase();
  return type === 'application/json';
}

/** Why the admin refuses `req` (bound to `bindHost`), or null to serve it. */
export function adminRefusal(req: http.IncomingMessage, bindHost: string): Refusal | null {
  const host = req.headers.host;
  if (!hostAllowed(host, bindHost)) {
    return { status: 403, body: `admin: Host "${host ?? ''}" is not this admin's address: use localhost, an IP address or ${bindHost} (DNS rebinding protection)\n` };
  }
  const method = req.method ?? 'GET';
  if (method !== 'GET' && method !== 'HEAD' && !notSimple(req)) {
    return { status: 403, body: `admin: ${method} needs the header "${ADMIN_HEADER}: 1" (or content-type: application/json), so that a web page cannot send it\n` };
  }
  return null;
}
