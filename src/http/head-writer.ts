// Builds an HTTP/1.1 message head (and a small body after it) byte by byte in one reused buffer,
// then hands it out as one flat latin1 string: one allocation per message, where concatenating
// `name + ': ' + value + '\r\n'` made a rope of several small strings per header line that the
// socket write then flattened again (measured with `npm run bench:alloc`). One writer per worker
// thread; a message is built and taken synchronously, so it is never shared.

let buf = Buffer.allocUnsafe(16 * 1024);
let n = 0;

/** Bytes written since headStart(). */
export function headLength(): number {
  return n;
}

/** Starts a new message. */
export function headStart(): void {
  n = 0;
}

function room(more: number): void {
  if (n + more <= buf.length) return;
  const bigger = Buffer.allocUnsafe(Math.max(buf.length * 2, n + more));
  buf.copy(bigger, 0, 0, n);
  buf = bigger;
}

type Latin1Writer = Buffer & { latin1Write(s: string, offset: number, length: number): number };

/** Appends a string's chars as bytes (latin1: every char of a validated head is below 0x100). */
export function headText(s: string): void {
  const len = s.length;
  room(len);
  if (len > 24) {
    // a long string: one native copy beats the loop
    n += (buf as Latin1Writer).latin1Write(s, n, len);
    return;
  }
  const b = buf;
  let o = n;
  for (let i = 0; i < len; i++) b[o++] = s.charCodeAt(i);
  n = o;
}

/**
 * Appends `s` if every char code c has allowed[c] === 1 (a 256-entry table; chars above 0xff never
 * pass), checking and copying in one pass; false otherwise (the caller abandons the message).
 */
export function headTextIf(s: string, allowed: Uint8Array): boolean {
  const len = s.length;
  room(len);
  const b = buf;
  let o = n;
  for (let i = 0; i < len; i++) {
    const c = s.charCodeAt(i);
    if (allowed[c] !== 1) return false;
    b[o++] = c;
  }
  n = o;
  return true;
}

/** `: ` between a name and its value */
export function headColon(): void {
  room(2);
  buf[n++] = 58; // :
  buf[n++] = 32;
}

/** `name: value\r\n` */
export function headField(name: string, value: string): void {
  headText(name);
  room(2);
  buf[n++] = 58; // :
  buf[n++] = 32;
  headText(value);
  room(2);
  buf[n++] = 13;
  buf[n++] = 10;
}

/** `\r\n` (the end of the head, or of a chunk-size line) */
export function headCrlf(): void {
  room(2);
  buf[n++] = 13;
  buf[n++] = 10;
}

/** Appends bytes (a body chunk that leaves with its head). */
export function headBytes(b: Buffer): void {
  room(b.length);
  b.copy(buf, n);
  n += b.length;
}

const DIGITS = '0123456789abcdef';

/** Appends a non-negative integer in decimal (radix 10) or hex (16: chunk sizes), without making a string. */
export function headNumber(v: number, radix = 10): void {
  room(16);
  const start = n;
  do {
    buf[n++] = DIGITS.charCodeAt(v % radix);
    v = Math.floor(v / radix);
  } while (v > 0);
  // digits were written least significant first
  for (let i = start, j = n - 1; i < j; i++, j--) {
    const t = buf[i] as number;
    buf[i] = buf[j] as number;
    buf[j] = t;
  }
}

/** The message built since headStart(), as one flat string that owns its bytes. */
export function headTake(): string {
  return (buf as Buffer & { latin1Slice(start: number, end: number): string }).latin1Slice(0, n);
}
