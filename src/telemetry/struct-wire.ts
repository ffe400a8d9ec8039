// google.protobuf.Struct on the wire, as much of it as Istio's metadata exchange uses: written with
// string and struct values, read into string values and nested structs (every other field and
// wire type is skipped). Struct { map<string, Value> fields = 1 }: each entry is a length-delimited
// field 1 holding {1: key, 2: Value}; Value's string_value is field 3, struct_value field 5.
// Hand-written instead of protobufjs (whose full build costs each thread that imports it ≈ 2 MB
// of RSS for two messages).

/** A Struct to write: keys in the order given (the caller sorts them, as Istio does). */
export type StructOut = [key: string, value: string | StructOut][];

/** A Struct read from the wire: its string values and nested structs (other kinds are left out). */
export interface StructIn { [key: string]: string | StructIn }

const STRING_VALUE = (3 << 3) | 2;
const STRUCT_VALUE = (5 << 3) | 2;
const ENTRY = (1 << 3) | 2;
const KEY = (1 << 3) | 2;
const VALUE = (2 << 3) | 2;
/** nested structs deeper than this are not read (Istio's metadata nests one level: LABELS) */
const MAX_DEPTH = 8;

function varintBytes(n: number, out: number[]): void {
  while (n > 0x7f) { out.push((n & 0x7f) | 0x80); n >>>= 7; }
  out.push(n);
}

function field(tag: number, bytes: number[] | Buffer, out: number[]): void {
  out.push(tag);
  varintBytes(bytes.length, out);
  for (let i = 0; i < bytes.length; i++) out.push(bytes[i] as number);
}

function structBytes(s: StructOut): number[] {
  const out: number[] = [];
  for (const [key, value] of s) {
    const v: number[] = [];
    if (typeof value === 'string') field(STRING_VALUE, Buffer.from(value, 'utf8'), v);
    else field(STRUCT_VALUE, structBytes(value), v);
    const entry: number[] = [];
    field(KEY, Buffer.from(key, 'utf8'), entry);
    field(VALUE, v, entry);
    field(ENTRY, entry, out);
  }
  return out;
}

export function encodeStruct(s: StructOut): Buffer {
  return Buffer.from(structBytes(s));
}

class WireError extends Error {}

/** A reader over buf[pos, end); throws WireError on anything malformed. */
class Reader {
  constructor(readonly buf: Buffer, public pos: number, readonly end: number) {}

  varint(): number {
    let n = 0;
    for (let shift = 0; shift < 35; shift += 7) {
      if (this.pos >= this.end) throw new WireError('truncated varint');
      const b = this.buf[this.pos++] as number;
      n += (b & 0x7f) * 2 ** shift;
      if (b < 0x80) return n;
    }
    // a 64-bit varint (a field this reader skips): its remaining bytes
    for (let i = 0; i < 5; i++) {
      if (this.pos >= this.end) throw new WireError('truncated varint');
      if ((this.buf[this.pos++] as number) < 0x80) return n;
    }
    throw new WireError('varint too long');
  }

  /** A length-delimited field's bounds: [start, end). */
  bytes(): number {
    const n = this.varint();
    const start = this.pos;
    if (n > this.end - start) throw new WireError('length past the end');
    this.pos = start + n;
    return start;
  }

  skip(wireType: number): void {
    if (wireType === 0) this.varint();
    else if (wireType === 1) this.advance(8);
    else if (wireType === 2) this.bytes();
    else if (wireType === 5) this.advance(4);
    else throw new WireError(`wire type ${wireType}`);
  }

  private advance(n: number): void {
    if (n > this.end - this.pos) throw new WireError('truncated field');
    this.pos += n;
  }
}

function readValue(r: Reader, depth: number): string | StructIn | null {
  let value: string | StructIn | null = null;
  while (r.pos < r.end) {
    const tag = r.varint();
    if (tag === STRING_VALUE) {
      const start = r.bytes();
      value = r.buf.toString('utf8', start, r.pos);
    } else if (tag === STRUCT_VALUE && depth < MAX_DEPTH) {
      const start = r.bytes();
      value = readStruct(new Reader(r.buf, start, r.pos), depth + 1);
    } else {
      r.skip(tag & 7);
      value = null; // a oneof: the last field on the wire wins
    }
  }
  return value;
}

function readStruct(r: Reader, depth: number): StructIn {
  const out: StructIn = Object.create(null) as StructIn;
  while (r.pos < r.end) {
    const tag = r.varint();
    if (tag !== ENTRY) { r.skip(tag & 7); continue; }
    const start = r.bytes();
    const e = new Reader(r.buf, start, r.pos);
    let key = '';
    let value: string | StructIn | null = null;
    while (e.pos < e.end) {
      const t = e.varint();
      if (t === KEY) {
        const k = e.bytes();
        key = e.buf.toString('utf8', k, e.pos);
      } else if (t === VALUE) {
        const v = e.bytes();
        value = readValue(new Reader(e.buf, v, e.pos), depth);
      } else {
        e.skip(t & 7);
      }
    }
    if (value !== null) out[key] = value;
    else delete out[key];
  }
  return out;
}

/** A Struct's wire bytes → its string values and nested structs; null when the bytes are malformed. */
export function decodeStruct(buf: Buffer): StructIn | null {
  try {
    return readStruct(new Reader(buf, 0, buf.length), 0);
  } catch (err) {
    if (err instanceof WireError) return null;
    throw err;
  }
}
