// Request body framing (RFC 9112 §6, §7.1): a Content-Length countdown or a strict chunked
// decoder. Every line ending must be CRLF (a bare LF is a framing error, as is a chunk size that
// is not hex or longer than 15 digits); chunk extensions are skipped; trailer fields are read,
// checked and dropped. Body bytes are handed out as ranges of the caller's buffer.
import { HEX } from '../../upstream/h1/chars.js';

export interface BodyTarget {
  /** Body bytes buf[start, end): valid during the call only. */
  bodyBytes(buf: Buffer, start: number, end: number): void;
}

const SIZE = 0;
const EXT = 1;
const SIZE_LF = 2;
const DATA = 3;
const DATA_CR = 4;
const DATA_LF = 5;
const TRAILER_START = 6;
const TRAILER_LINE = 7;
const TRAILER_LF = 8;
const END_LF = 9;
const DONE = 10;

const CR = 13;
const LF = 10;
const MAX_SIZE_DIGITS = 15;
/** trailer section bytes (the same budget as a head is generous; Envoy counts them against it) */
const MAX_TRAILER_BYTES = 60 * 1024;

export class BodyDecoder {
  /** true once the whole body has been read */
  done = false;
  /** why feed() returned -1 */
  error = '';
  private chunked = false;
  /** bytes left: of the whole body (length) or of the current chunk (chunked) */
  private remaining = 0;
  private state = SIZE;
  private digits = 0;
  private trailerBytes = 0;

  /** A Content-Length body of `length` > 0 bytes, or (length < 0) a chunked one. */
  reset(length: number): void {
    this.done = false;
    this.error = '';
    this.chunked = length < 0;
    this.remaining = length < 0 ? 0 : length;
    this.state = SIZE;
    this.digits = 0;
    this.trailerBytes = 0;
  }

  /** Reads body bytes from buf[start, end). Returns the bytes consumed (it stops where the body ends), or -1 on a framing error. */
  feed(buf: Buffer, start: number, end: number, target: BodyTarget): number {
    if (!this.chunked) {
      const n = Math.min(this.remaining, end - start);
      if (n > 0) target.bodyBytes(buf, start, start + n);
      this.remaining -= n;
      if (this.remaining === 0) this.done = true;
      return n;
    }
    let i = start;
    while (i < end) {
      const c = buf[i] as number;
      switch (this.state) {
        case SIZE: {
          const h = HEX[c] as number;
          if (h >= 0) {
            if (++this.digits > MAX_SIZE_DIGITS) return this.fail('chunk size too large');
            this.remaining = this.remaining * 16 + h;
            i++;
            break;
          }
          if (this.digits === 0) return this.fail('chunk size is not hexadecimal');
          if (c === CR) this.state = SIZE_LF;
          else if (c === 59 /* ; */ || c === 32 || c === 9) this.state = EXT;
          else return this.fail('invalid character after the chunk size');
          i++;
          break;
        }
        case EXT:
          if (c === CR) this.state = SIZE_LF;
          else if (c === LF || c === 0 || c === 127) return this.fail('bare LF or control character in a chunk extension');
          i++;
          break;
        case SIZE_LF:
          if (c !== LF) return this.fail('chunk size line not ended by CRLF');
          i++;
          this.state = this.remaining === 0 ? TRAILER_START : DATA;
          break;
        case DATA: {
          const n = Math.min(this.remaining, end - i);
          target.bodyBytes(buf, i, i + n);
          this.remaining -= n;
          i += n;
          if (this.remaining === 0) this.state = DATA_CR;
          break;
        }
        case DATA_CR:
          if (c !== CR) return this.fail('chunk data not followed by CRLF');
          this.state = DATA_LF;
          i++;
          break;
        case DATA_LF:
          if (c !== LF) return this.fail('chunk data not followed by CRLF');
          this.state = SIZE;
          this.digits = 0;
          i++;
          break;
        case TRAILER_START:
          if (c === CR) this.state = END_LF;
          else if (c === LF) return this.fail('bare LF in the trailer section');
          else this.state = TRAILER_LINE;
          i++;
          break;
        case TRAILER_LINE:
          if (c === CR) this.state = TRAILER_LF;
          else if (c === LF || (c < 32 && c !== 9) || c === 127) return this.fail('bare LF or control character in a trailer');
          if (++this.trailerBytes > MAX_TRAILER_BYTES) return this.fail('trailer section too large');
          i++;
          break;
        case TRAILER_LF:
          if (c !== LF) return this.fail('trailer line not ended by CRLF');
          this.state = TRAILER_START;
          i++;
          break;
        case END_LF:
          if (c !== LF) return this.fail('chunked body not ended by CRLF');
          this.state = DONE;
          this.done = true;
          return i + 1 - start;
        default:
          return i - start;
      }
    }
    return i - start;
  }

  private fail(why: string): number {
    this.error = why;
    return -1;
  }
}
