// Control-socket framing: a 4-byte big-endian length, then one msgpack message (msgpackr). The
// decoder accumulates bytes across reads, reads a frame's length first and rejects one over the
// limit (or one its owner has no room for) before buffering it, joins a frame's chunks once when it
// is complete, and only hands out plain objects (msgpack can decode garbage into odd values).
import { createRequire } from 'node:module';
import type { Packr } from 'msgpackr';

export const DEFAULT_FRAME_LIMIT = 16 * 1024 * 1024;

let packr: Packr | null = null;
/**
 * msgpackr, loaded by the first frame encoded or decoded (the first control-socket request): a
 * sidecar nobody talks to over its control socket never loads it (≈ 1 MB of RSS). Framing is
 * synchronous, hence require() (msgpackr's CommonJS build) rather than import().
 */
function codec(): Packr {
  if (packr === null) {
    const lib = createRequire(import.meta.url)('msgpackr') as typeof import('msgpackr');
    packr = new lib.Packr({ useRecords: false, mapsAsObjects: true });
  }
  return packr;
}

export function encodeFrame(message: unknown): Buffer {
  const body = codec().pack(message);
  const frame = Buffer.allocUnsafe(4 + body.length);
  frame.writeUInt32BE(body.length, 0);
  body.copy(frame, 4);
  return frame;
}

export class FrameError extends Error {}

export interface Frame {
  message: Record<string, unknown>;
  /** the frame's size on the wire (4 + body) */
  bytes: number;
}

/**
 * Asked for room before a frame of `bytes` (4 + body) is buffered: returns null to go on, or why
 * not (the decoder then throws FrameError with that message).
 */
export type FrameAdmission = (bytes: number) => string | null;

export class FrameDecoder {
  private chunks: Buffer[] = [];
  private buffered = 0;
  /** body length of the frame being received; -1 until its 4-byte header is in */
  private expected = -1;

  constructor(
    private readonly limit = DEFAULT_FRAME_LIMIT,
    private readonly admit: FrameAdmission | null = null,
  ) {}

  /** Bytes received but not yet a whole frame (a truncated frame at close). */
  get pending(): number {
    return this.buffered;
  }

  /** Size (4 + body) of the frame being received and already admitted, or 0. */
  get admitted(): number {
    return this.expected < 0 ? 0 : 4 + this.expected;
  }

  /** Feeds bytes; returns every complete message. Throws FrameError on an oversized, unadmitted or undecodable frame. */
  push(data: Buffer): Record<string, unknown>[] {
    return this.pushFrames(data).map((f) => f.message);
  }

  /** As push, with each frame's size. */
  pushFrames(data: Buffer): Frame[] {
    this.chunks.push(data);
    this.buffered += data.length;
    const out: Frame[] = [];
    for (;;) {
      if (this.expected < 0) {
        if (this.buffered < 4) break;
        const length = this.header();
        if (length > this.limit) throw new FrameError(`frame of ${length} bytes exceeds the ${this.limit}-byte limit`);
        const refused = this.admit?.(4 + length) ?? null;
        if (refused !== null) throw new FrameError(refused);
        this.expected = length;
      }
      const size = 4 + this.expected;
      if (this.buffered < size) break;
      const all = this.chunks.length === 1 ? (this.chunks[0] as Buffer) : Buffer.concat(this.chunks, this.buffered);
      const rest = all.subarray(size);
      this.chunks = rest.length === 0 ? [] : [rest];
      this.buffered = rest.length;
      this.expected = -1;
      out.push({ message: decode(all.subarray(4, size)), bytes: size });
    }
    return out;
  }

  /** The 4-byte length at the start of the buffered bytes (which may span chunks). */
  private header(): number {
    const first = this.chunks[0] as Buffer;
    if (first.length >= 4) return first.readUInt32BE(0);
    const joined = Buffer.concat(this.chunks, this.buffered);
    this.chunks = [joined];
    return joined.readUInt32BE(0);
  }
}

function decode(body: Buffer): Record<string, unknown> {
  let value: unknown;
  try {
    value = codec().unpack(body);
  } catch {
    throw new FrameError('frame is not valid msgpack');
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value) || Object.getPrototypeOf(value) !== Object.prototype) {
    throw new FrameError('frame must hold a msgpack map');
  }
  return value as Record<string, unknown>;
}
