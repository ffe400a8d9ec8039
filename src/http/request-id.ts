// x-request-id values for requests that arrive without one: random (version 4) UUIDs, as Envoy
// generates. Random bytes come from a pool refilled 4 KiB at a time and the 36 characters are
// written into a scratch buffer read back as one string: one allocation per id.
import { randomFillSync } from 'node:crypto';

const POOL = Buffer.allocUnsafe(4096);
let poolOffset = POOL.length;
const TEXT = Buffer.allocUnsafe(36);
/** char codes of the two hex digits of every byte value */
const HEX_HI = new Uint8Array(256);
const HEX_LO = new Uint8Array(256);
for (let i = 0; i < 256; i++) {
  const s = i.toString(16).padStart(2, '0');
  HEX_HI[i] = s.charCodeAt(0);
  HEX_LO[i] = s.charCodeAt(1);
}
/** where each of the 16 bytes goes in xxxxxxxx-xxxx-4xxx-yxxx-xxxxxxxxxxxx */
const AT = [0, 2, 4, 6, 9, 11, 14, 16, 19, 21, 24, 26, 28, 30, 32, 34];
const DASH = 45;
TEXT[8] = DASH;
TEXT[13] = DASH;
TEXT[18] = DASH;
TEXT[23] = DASH;

interface Latin1 { latin1Slice(start: number, end: number): string }

export function newRequestId(): string {
  if (poolOffset + 16 > POOL.length) {
    randomFillSync(POOL);
    poolOffset = 0;
  }
  const o = poolOffset;
  poolOffset += 16;
  for (let i = 0; i < 16; i++) {
    let b = POOL[o + i] as number;
    if (i === 6) b = (b & 0x0f) | 0x40; // version 4
    else if (i === 8) b = (b & 0x3f) | 0x80; // RFC 4122 variant
    const at = AT[i] as number;
    TEXT[at] = HEX_HI[b] as number;
    TEXT[at + 1] = HEX_LO[b] as number;
  }
  return (TEXT as unknown as Latin1).latin1Slice(0, 36);
}
