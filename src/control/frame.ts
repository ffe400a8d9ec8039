// Control-socket framing: a 4-byte big-endian length, then one msgpack message (msgpackr). The
// decoder accumulates bytes across reads, rejects lengths over the limit before buffering them,
// and only hands out plain objects (msgpack can decode garbage into odd values).
import { Packr } from 'msgpackr';

export const DEFAULT_FRAME_LIMIT = 16 * 1024 * 1024;

const packr = new Packr({ useRecords: false, mapsAsObjects: true });

export function encodeFrame(message: unknown): Buffer {
  const body = packr.pack(message);
  const frame = Buffer.allocUnsafe(4 + body.length);
  frame.writeUInt32BE(body.length, 0);
  body.copy(frame, 4);
  return frame;
}

export class FrameError extends Error {}

export class FrameDecoder {
  private readonly limit: number;
  private chunks: Buffer[] = [];
  private buffered = 0;

  constructor(limit = DEFAULT_FRAME_LIMIT) {
    this.limit = limit;
  }

  /** Bytes received but not yet a whole frame (a truncated frame at close). */
  get pending(): number {
    return this.buffered;
  }

  /** Feeds bytes; returns every complete message. Throws FrameError on an oversized or undecodable frame. */
  push(data: Buffer): Record<string, unknown>[] {
    this.chunks.push(data);
    this.buffered += data.length;
    const out: Record<string, unknown>[] = [];
    while (this.buffered >= 4) {
      const all = this.chunks.length === 1 ? (this.chunks[0] as Buffer) : Buffer.concat(this.chunks, this.buffered);
      this.chunks = [all];
      const length = all.readUInt32BE(0);
      if (length > this.limit) throw new FrameError(`frame of ${length} bytes exceeds the ${this.limit}-byte limit`);
      if (all.length < 4 + length) break;
      out.push(decode(all.subarray(4, 4 + length)));
      const rest = all.subarray(4 + length);
      this.chunks = rest.length === 0 ? [] : [rest];
      this.buffered = rest.length;
    }
    return out;
  }
}

function decode(body: Buffer): Record<string, unknown> {
  let value: unknown;
  try {
    value = packr.unpack(body);
  } catch {
    throw new FrameError('frame is not valid msgpack');
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value) || Object.getPrototypeOf(value) !== Object.prototype) {
    throw new FrameError('frame must hold a msgpack map');
  }
  return value as Record<string, unknown>;
}
