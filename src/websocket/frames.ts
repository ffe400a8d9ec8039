// WebSocket frame boundaries in a byte stream (RFC 6455 §5.2), tracked as the bytes are relayed
// (headers parsed, payloads skipped: nothing is copied or unmasked), so that meshlet can put a
// Close frame of its own between two frames when it ends a relayed WebSocket (drain: 1001).
import { randomBytes } from 'node:crypto';

export class FrameTracker {
  /** the current frame's header bytes read so far */
  private readonly hdr = Buffer.alloc(14);
  private hdrLen = 0;
  /** header length once its first two bytes are known (2 until then) */
  private need = 2;
  /** payload bytes of the current frame still to come */
  private payload = 0;

  /** Between two frames: nothing of a frame has been seen that is not complete. */
  atBoundary(): boolean {
    return this.hdrLen === 0 && this.payload === 0;
  }

  /**
   * Follows b[0, b.length); returns b.length, or — with `stop` — the offset of the first frame
   * boundary reached after at least one byte (the tracker is then atBoundary()).
   */
  advance(b: Buffer, stop: boolean): number {
    const end = b.length;
    let p = 0;
    while (p < end) {
      if (this.payload > 0) {
        const n = Math.min(this.payload, end - p);
        this.payload -= n;
        p += n;
        if (this.payload === 0 && stop) return p;
        continue;
      }
      this.hdr[this.hdrLen++] = b[p++] as number;
      if (this.hdrLen === 2) {
        const len7 = (this.hdr[1] as number) & 0x7f;
        this.need = 2 + (len7 === 126 ? 2 : len7 === 127 ? 8 : 0) + (((this.hdr[1] as number) & 0x80) !== 0 ? 4 : 0);
      }
      if (this.hdrLen < 2 || this.hdrLen < this.need) continue;
      const len7 = (this.hdr[1] as number) & 0x7f;
      this.payload = len7 < 126 ? len7 : len7 === 126 ? this.hdr.readUInt16BE(2) : this.hdr.readUInt32BE(2) * 2 ** 32 + this.hdr.readUInt32BE(6);
      this.hdrLen = 0;
      this.need = 2;
      if (this.payload === 0 && stop) return p;
    }
    return p;
  }
}

/** Close 1001 (going away) as a server sends it: unmasked. */
export const CLOSE_GOING_AWAY_TO_CLIENT = Buffer.from([0x88, 0x02, 0x03, 0xe9]);

/** Close 1001 as a client sends it: masked with a fresh key (RFC 6455 §5.3). */
export function closeGoingAwayToServer(): Buffer {
  const mask = randomBytes(4);
  return Buffer.from([0x88, 0x82, mask[0] as number, mask[1] as number, mask[2] as number, mask[3] as number, 0x03 ^ (mask[0] as number), 0xe9 ^ (mask[1] as number)]);
}
