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
  // destination ::, source port 0, destination port 0 (the slot is what names the peer)
  return buf;
}

/** readProxyV2's answers besides an offset: more bytes are needed, or this is not the front's header. */
export const PROXY_INCOMPLETE = -1;
export const PROXY_INVALID = -2;

/**
 * The data-plane side: reads the header at buf[start, end) of a connection on the internal
 * listener. Returns the offset after it (and the 16-byte source address that names the peer
 * slot), PROXY_INCOMPLETE, or PROXY_INVALID (anything but the front's own header: the connection is dropped).
 */
export function readProxyV2(buf: Buffer, start: number, end: number, out: { proxiedAddress: Uint8Array | null }): number {
  const have = end - start;
  const n = Math.min(have, 16);
  for (let i = 0; i < n; i++) {
    const expected = i < 12 ? SIGNATURE[i] : HEAD[i - 12];
    if (buf[start + i] !== expected) return PROXY_INVALID;
  }
  if (have < PROXY_V2_LENGTH) return PROXY_INCOMPLETE;
  out.proxiedAddress = new Uint8Array(buf.subarray(start + 16, start + 32));
  return start + PROXY_V2_LENGTH;
}
