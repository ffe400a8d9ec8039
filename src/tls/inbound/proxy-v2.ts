// The PROXY protocol v2 header the front sends ahead of each forwarded connection: TCP over IPv6,
// the source address naming the peer-table slot (see peer-table.ts), destination and ports zero.
import type { PeerSlots } from '../peer-table.js';

const SIGNATURE = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]);
/** version 2 + PROXY command; AF_INET6 + STREAM; 36 address bytes */
const HEAD = Buffer.from([0x21, 0x21, 0x00, 36]);
export const PROXY_V2_LENGTH = 16 + 36;

export function proxyV2Header(slots: PeerSlots, slot: number): Buffer {
  const buf = Buffer.alloc(PROXY_V2_LENGTH);
  SIGNATURE.copy(buf, 0);
  HEAD.copy(buf, 12);
  slots.address(slot, buf, 16);
  // destination ::, source port 0, destination port 0 (uWS exposes no port anyway)
  return buf;
}
