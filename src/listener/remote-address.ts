// The client's address as text for x-forwarded-for, the access log and authz source IPs, without
// formatting it per request: uWS gives 4 raw bytes for IPv4 and the last text is reused while the
// address repeats (a sidecar's clients are a handful of local or peer addresses).
import type { HttpResponse } from '../uws.js';

let lastV4 = -1;
let lastV4Text = '';

export function remoteAddressText(res: HttpResponse): string {
  const raw = res.getRemoteAddress();
  if (raw.byteLength === 4) {
    const b = new Uint8Array(raw);
    const key = ((b[0] as number) * 16777216) + ((b[1] as number) << 16) + ((b[2] as number) << 8) + (b[3] as number);
    if (key !== lastV4) {
      lastV4 = key;
      lastV4Text = `${b[0]}.${b[1]}.${b[2]}.${b[3]}`;
    }
    return lastV4Text;
  }
  // IPv6 (rare on a sidecar's loopback listeners): uWS formats it
  return Buffer.from(res.getRemoteAddressAsText()).toString('latin1');
}
