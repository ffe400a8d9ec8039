// Per-worker interned strings for the stats records: a record stays fixed-size and numeric, and
// refers to per-request text (a peer's workload metadata, an inbound Host) by an id into this
// table. One SharedArrayBuffer, one writer (the worker), one reader (the control thread). An
// entry is written (bytes, then its end offset) before `count` is published with Atomics.store,
// and `count` before any record naming the id is published in the ring, so a reader that sees
// the record sees the entry. Full table: intern() answers -1 (the labels read "unknown") and
// counts it, which also bounds the metric cardinality one worker can create.
//
//   Int32 header [count, bytesUsed, maxEntries, maxBytes, full, …] (32 bytes)
//   Int32 ends[maxEntries]   end offset of entry i in `bytes` (start: ends[i-1], or 0)
//   Uint8 bytes[maxBytes]    UTF-8

const H_COUNT = 0;
const H_BYTES = 1;
const H_MAX_ENTRIES = 2;
const H_MAX_BYTES = 3;
const H_FULL = 4;
const HEADER_BYTES = 32;
/** a longer string is not interned (-1) */
export const MAX_STRING_BYTES = 2048;

export const DEFAULT_MAX_STRINGS = 4096;
export const DEFAULT_STRING_BYTES = 512 * 1024;

export function createStringTable(maxEntries = DEFAULT_MAX_STRINGS, maxBytes = DEFAULT_STRING_BYTES): SharedArrayBuffer {
  const sab = new SharedArrayBuffer(HEADER_BYTES + maxEntries * 4 + maxBytes);
  const h = new Int32Array(sab, 0, HEADER_BYTES / 4);
  h[H_MAX_ENTRIES] = maxEntries;
  h[H_MAX_BYTES] = maxBytes;
  return sab;
}

function open(sab: SharedArrayBuffer): { header: Int32Array; ends: Int32Array; bytes: Uint8Array; maxEntries: number; maxBytes: number } {
  const header = new Int32Array(sab, 0, HEADER_BYTES / 4);
  const maxEntries = header[H_MAX_ENTRIES] as number;
  const maxBytes = header[H_MAX_BYTES] as number;
  if (!(maxEntries > 0) || sab.byteLength !== HEADER_BYTES + maxEntries * 4 + maxBytes) throw new TypeError('not a string table');
  return { header, ends: new Int32Array(sab, HEADER_BYTES, maxEntries), bytes: new Uint8Array(sab, HEADER_BYTES + maxEntries * 4, maxBytes), maxEntries, maxBytes };
}

export class StringTableWriter {
  private readonly header: Int32Array;
  private readonly ends: Int32Array;
  private readonly bytes: Uint8Array;
  private readonly maxEntries: number;
  private readonly maxBytes: number;
  private readonly ids = new Map<string, number>();
  private count = 0;
  private used = 0;

  constructor(sab: SharedArrayBuffer) {
    const t = open(sab);
    this.header = t.header;
    this.ends = t.ends;
    this.bytes = t.bytes;
    this.maxEntries = t.maxEntries;
    this.maxBytes = t.maxBytes;
  }

  /** The id of `s` (interned on first use), or -1 when the table is full or `s` too long. */
  intern(s: string): number {
    const known = this.ids.get(s);
    if (known !== undefined) return known;
    const len = Buffer.byteLength(s);
    if (len > MAX_STRING_BYTES || this.count >= this.maxEntries || this.used + len > this.maxBytes) {
      Atomics.add(this.header, H_FULL, 1);
      return -1;
    }
    Buffer.from(this.bytes.buffer, this.bytes.byteOffset + this.used, len).write(s, 'utf8');
    this.used += len;
    const id = this.count;
    this.ends[id] = this.used;
    this.count = id + 1;
    this.header[H_BYTES] = this.used;
    Atomics.store(this.header, H_COUNT, this.count);
    this.ids.set(s, id);
    return id;
  }
}

export class StringTableReader {
  private readonly header: Int32Array;
  private readonly ends: Int32Array;
  private readonly bytes: Uint8Array;
  private readonly cache: string[] = [];

  constructor(sab: SharedArrayBuffer) {
    const t = open(sab);
    this.header = t.header;
    this.ends = t.ends;
    this.bytes = t.bytes;
  }

  /** The string of `id`; null for -1 or an id not (yet) published. */
  get(id: number): string | null {
    if (!Number.isInteger(id) || id < 0) return null;
    const cached = this.cache[id];
    if (cached !== undefined) return cached;
    if (id >= Atomics.load(this.header, H_COUNT)) return null;
    const start = id === 0 ? 0 : (this.ends[id - 1] as number);
    const s = Buffer.from(this.bytes.buffer, this.bytes.byteOffset + start, (this.ends[id] as number) - start).toString('utf8');
    this.cache[id] = s;
    return s;
  }

  /** intern() calls refused because the table was full (or the string too long). */
  get refused(): number {
    return Atomics.load(this.header, H_FULL) >>> 0;
  }
}
