// The framing of a chunked response body (RFC 9112 §7.1): size lines (hex, at most 13 digits),
// chunk extensions (skipped, bounded), the CRLF after each chunk's data, and the trailer section,
// handed to the sink as fields. The chunks' data is not read here: feed() stops where it starts
// (the response parser delivers it, as it does a Content-Length body) and dataRead() resumes.
// Bad input never throws: feed() returns -1 with `error` set.
import { CR, HEX, LF, SEMI, TOKEN, type Latin1 } from './chars.js';

export interface TrailerSink {
  /** A chunked body's trailer fields (flat [name, value, ...], names as sent), before the message completes. */
  onResponseTrailers?(trailers: string[]): void;
}

const MAX_CHUNK_EXT_BYTES = 16 * 1024;
/** Max bytes of a trailer section: a response head's budget (MAX_HEAD_BYTES). */
const MAX_TRAILERS_BYTES = 64 * 1024;

// states
const S_CHUNK_SIZE = 0;
const S_CHUNK_EXT = 1;
const S_CHUNK_SIZE_LF = 2;
/** feed() stopped before a chunk's data (`chunkSize` bytes) */
export const S_CHUNK_DATA_NEXT = 3;
const S_CHUNK_DATA_CR = 4;
const S_CHUNK_DATA_LF = 5;
const S_TRAILER_START = 6;
const S_TRAILER_LINE = 7;
const S_TRAILER_LF = 8;
const S_TRAILER_END_LF = 9;
/** the body ended (its trailers, if any, were delivered) */
export const S_CHUNKED_DONE = 10;

export class ChunkedDecoder {
  state = S_CHUNK_SIZE;
  /** why feed() returned -1 */
  error = '';
  /** the size of the chunk being read (its data's length at S_CHUNK_DATA_NEXT) */
  chunkSize = 0;

  private readonly sink: TrailerSink;
  private chunkDigits = 0;
  private extBytes = 0;
  private trailerBytes = 0;
  /** the trailer line being read (it may span feeds) and the complete ones */
  private trailerLine = '';
  private trailerLines: string[] | null = null;

  constructor(sink: TrailerSink) {
    this.sink = sink;
  }

  /** A chunked body starts: its first size line comes next. */
  start(): void {
    this.state = S_CHUNK_SIZE;
    this.chunkSize = 0;
    this.chunkDigits = 0;
  }

  /** The current chunk's data has been read: its CRLF comes next. */
  dataRead(): void {
    this.state = S_CHUNK_DATA_CR;
  }

  /**
   * Reads framing from b[pos, end). Returns the offset just past what it consumed: `end` when it
   * needs more, less when it reached a chunk's data (S_CHUNK_DATA_NEXT) or the end of the body
   * (S_CHUNKED_DONE). Returns -1 on malformed framing (`error` says why).
   */
  feed(b: Buffer, pos: number, end: number): number {
    // where the trailer line's bytes in this buffer start (a line may span feeds)
    let lineFrom = pos;
    while (pos < end) {
      const c = b[pos]!;
      switch (this.state) {
        case S_CHUNK_SIZE: {
          const h = HEX[c]!;
          if (h >= 0) {
            if (++this.chunkDigits > 13) return this.fail('chunk size too large');
            this.chunkSize = this.chunkSize * 16 + h;
          } else if (this.chunkDigits === 0) {
            return this.fail('invalid chunk size');
          } else if (c === CR) {
            this.state = S_CHUNK_SIZE_LF;
          } else if (c === SEMI) {
            this.state = S_CHUNK_EXT;
            this.extBytes = 0;
          } else {
            return this.fail('invalid chunk size');
          }
          pos++;
          break;
        }
        case S_CHUNK_EXT:
          if (c === CR) this.state = S_CHUNK_SIZE_LF;
          else if (c === LF || c === 0) return this.fail('invalid chunk extension');
          else if (++this.extBytes > MAX_CHUNK_EXT_BYTES) return this.fail('chunk extension too long');
          pos++;
          break;
        case S_CHUNK_SIZE_LF:
          if (c !== LF) return this.fail('bare CR after chunk size');
          pos++;
          if (this.chunkSize !== 0) {
            this.state = S_CHUNK_DATA_NEXT;
            return pos;
          }
          this.state = S_TRAILER_START;
          this.trailerBytes = 0;
          this.trailerLines = null;
          break;
        case S_CHUNK_DATA_CR:
          if (c !== CR) return this.fail('chunk data longer than its size');
          this.state = S_CHUNK_DATA_LF;
          pos++;
          break;
        case S_CHUNK_DATA_LF:
          if (c !== LF) return this.fail('bare CR after chunk data');
          this.start();
          pos++;
          break;
        case S_TRAILER_START:
          if (c === CR) {
            this.state = S_TRAILER_END_LF;
          } else {
            if (TOKEN[c] !== 1) return this.fail('invalid trailer line');
            this.state = S_TRAILER_LINE;
            this.trailerBytes++;
            this.trailerLine = '';
            lineFrom = pos;
          }
          pos++;
          break;
        case S_TRAILER_LINE:
          if (c === CR) {
            this.state = S_TRAILER_LF;
            (this.trailerLines ??= []).push(this.trailerLine + (b as unknown as Latin1).latin1Slice(lineFrom, pos));
            this.trailerLine = '';
          } else if (c === LF || c === 0) return this.fail('invalid trailer line');
          if (++this.trailerBytes > MAX_TRAILERS_BYTES) return this.fail('trailers larger than 64 KiB');
          pos++;
          break;
        case S_TRAILER_LF:
          if (c !== LF) return this.fail('bare CR in trailers');
          this.state = S_TRAILER_START;
          pos++;
          break;
        case S_TRAILER_END_LF:
          if (c !== LF) return this.fail('bare CR after trailers');
          if (this.trailerLines !== null) {
            const trailers = splitTrailers(this.trailerLines);
            this.trailerLines = null;
            if (trailers === null) return this.fail('invalid trailer line');
            this.sink.onResponseTrailers?.(trailers);
          }
          this.state = S_CHUNKED_DONE;
          return pos + 1;
        default:
          return pos;
      }
    }
    // a trailer line continues in the next feed
    if (this.state === S_TRAILER_LINE) this.trailerLine += (b as unknown as Latin1).latin1Slice(lineFrom, end);
    return pos;
  }

  private fail(message: string): number {
    this.error = message;
    return -1;
  }
}

/** `name: value` trailer lines as [name, value, ...]; null when a line has no colon or a bad name. */
function splitTrailers(lines: string[]): string[] | null {
  const out: string[] = [];
  for (const line of lines) {
    const colon = line.indexOf(':');
    if (colon <= 0) return null;
    const name = line.slice(0, colon);
    for (let i = 0; i < name.length; i++) if (TOKEN[name.charCodeAt(i)] !== 1) return null;
    out.push(name, line.slice(colon + 1).trim());
  }
  return out;
}
