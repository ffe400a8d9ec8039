// Incremental HTTP/1.x response parser over Buffers, across arbitrary split points: status line,
// headers, 1xx skipping, and the body's framing: Content-Length, chunked (its size lines and
// trailers in chunked-decoder.ts) or close-delimited. Body bytes are zero-copy subarrays. Bad
// input never throws: feed() returns -1.
import { knownHeaderName } from '../../http/header-names.js';
import { filterResponseHeaders } from '../../http/headers.js';
import { COLON, COMMA, CR, HTAB, LF, SP, TOKEN, asciiBytes, lowerEquals, type Latin1 } from './chars.js';
import { ChunkedDecoder, S_CHUNKED_DONE, S_CHUNK_DATA_NEXT, type TrailerSink } from './chunked-decoder.js';

export interface ResponseSink extends TrailerSink {
  /** The final (>= 200) response head. Return false to make feed() return right after it. */
  onResponseHead(status: number, headers: string[]): boolean;
  /** A body slice: a view of the fed buffer, valid during the call only. Return false to make feed() return right after it. */
  onResponseBody(chunk: Buffer): boolean;
}

/** Max bytes of one response head (status line + header lines); a trailer section has the same budget. */
export const MAX_HEAD_BYTES = 64 * 1024;
/** Longest head kept for the same-head-again shortcut. */
const MAX_REMEMBERED_HEAD = 4096;

// states
export const S_HEAD = 0;
export const S_BODY_LENGTH = 1;
export const S_BODY_EOF = 2;
export const S_CHUNK_DATA = 3;
/** a chunked body's framing (size line, CRLF after data, trailers): read by `chunked` */
const S_CHUNK_FRAMING = 4;
export const S_DONE = 5;
export const S_ERROR = 6;

const CONTENT_LENGTH = asciiBytes('content-length');
const TRANSFER_ENCODING = asciiBytes('transfer-encoding');
const CONNECTION = asciiBytes('connection');
const CHUNKED = asciiBytes('chunked');
const CLOSE = asciiBytes('close');
const KEEP_ALIVE = asciiBytes('keep-alive');
const HTTP_1_DOT = asciiBytes('HTTP/1.');

/** `s` has exactly the chars b[start, end) (latin1). */
function sameBytes(s: string, b: Buffer, start: number, end: number): boolean {
  if (s.length !== end - start) return false;
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) !== b[start + i]) return false;
  return true;
}

function isOws(c: number): boolean {
  return c === SP || c === HTAB;
}

export class ResponseParser {
  private readonly sink: ResponseSink;
  state = S_HEAD;
  /** why feed() returned -1 / finish() returned false */
  error = '';
  /** the connection may carry another exchange after this response (valid once the head is parsed) */
  keepAlive = false;
  /** body bytes delivered for the current response */
  bodyBytes = 0;

  private headRequest = false;
  /** the request asked to upgrade: a 101 is the final head (the connection then leaves HTTP) */
  private upgrade = false;
  /** the status line of the head being parsed has been read */
  private statusDone = false;
  private headBytes = 0;

  // What the head said. A head parsed the long way clears them (startHead) and sets them line by
  // line; then they stay as they are until the next head is parsed the long way. So while a head
  // is remembered (lastHeadLen > 0) they are what it said, and the same head again finds them in
  // place: one set of fields serves both, nothing is copied either way.
  /** the final head's status (valid once the head is parsed) */
  status = 0;
  private version11 = true;
  private contentLength = -1;
  private hasTE = false;
  private teChunked = false;
  private connClose = false;
  private connKeepAlive = false;
  /**
   * the head's fields so far (the first `fieldCount`): a list reused from response to response, so
   * a name or value equal to the one at the same position in the previous head (a server repeats
   * most of its headers) reuses that string; the sink gets an exact-size copy
   */
  private readonly headers: string[] = [];
  private fieldCount = 0;
  /**
   * `filtering` parsers (the h1 codec's): the final head's fields as the client gets them
   * (filterResponseHeaders: names lowercased; hop-by-hop, framing and Connection-listed fields
   * dropped), made once per head parsed the long way; the same head again hands out a copy of
   * them without filtering again. `filteredLength`: its Content-Length (-1: none or not a number).
   */
  private readonly filtering: boolean;
  /** the current head's filtered fields; null until made (a head parsed the long way clears them) */
  private filtered: string[] | null = null;
  filteredLength = -1;
  /** the last head handed out was filtered (a filtering parser's final head; a 101 goes out as received) */
  handedFiltered = false;

  /** where the head being parsed started, when all of it so far is in one fed buffer (else null) */
  private headBuf: Buffer | null = null;
  private headFrom = 0;
  /**
   * The last final head parsed from one buffer, byte for byte (its first `lastHeadLen` bytes; 0:
   * none): a server often sends the same head again (same status, Date within the second,
   * same length), and a head equal to it is taken as parsed without scanning it.
   */
  private lastHead: Buffer | null = null;
  private lastHeadLen = 0;
  /** body bytes left: of a Content-Length body, or of the current chunk */
  private remaining = 0;
  private readonly chunked: ChunkedDecoder;
  private stop = false;
  /** an incomplete head line carried over between feeds (rare: only when a read splits a line) */
  private partial: Buffer | null = null;
  private partialLen = 0;
  /** the last body view handed out (view()): a view of `lastViewOf` from `lastViewAt` */
  private lastView: Buffer | null = null;
  private lastViewOf: Buffer | null = null;
  private lastViewAt = -1;

  /** `filtering`: hand out heads filtered for the client (see `filtered`), not as received (a WebSocket upgrade's parser). */
  constructor(sink: ResponseSink, filtering = false) {
    this.sink = sink;
    this.filtering = filtering;
    this.chunked = new ChunkedDecoder(sink);
  }

  /**
   * Prepares for the response to a new request; `headRequest` means no body whatever the headers
   * say; `upgrade`: a 101 ends the parse (S_DONE) instead of being an error.
   */
  reset(headRequest: boolean, upgrade = false): void {
    this.upgrade = upgrade;
    this.state = S_HEAD;
    this.error = '';
    this.keepAlive = false;
    this.bodyBytes = 0;
    this.headRequest = headRequest;
    this.statusDone = false;
    this.headBytes = 0;
    this.partialLen = 0;
    this.headBuf = null;
    this.stop = false;
  }

  /**
   * Parses buf[start..end). Returns the offset just past what was consumed: `end` when it needs
   * more, less when the message is complete (S_DONE; the rest is not this message's) or when the
   * sink returned false. Returns -1 on malformed input (`error` says why; state is S_ERROR).
   */
  feed(buf: Buffer, start = 0, end = buf.length): number {
    let pos = start;
    for (;;) {
      switch (this.state) {
        case S_HEAD:
          if (pos >= end) return pos;
          pos = this.parseHead(buf, pos, end);
          if (pos < 0) return -1;
          break;
        case S_BODY_LENGTH:
        case S_CHUNK_DATA: {
          if (pos >= end) return pos;
          const avail = end - pos;
          const n = avail < this.remaining ? avail : this.remaining;
          const chunk = pos === 0 && n === buf.length ? buf : this.view(buf, pos, n);
          pos += n;
          this.remaining -= n;
          this.bodyBytes += n;
          if (this.remaining === 0) {
            if (this.state === S_BODY_LENGTH) {
              this.state = S_DONE;
            } else {
              this.state = S_CHUNK_FRAMING;
              this.chunked.dataRead();
            }
          }
          if (!this.sink.onResponseBody(chunk)) return pos;
          break;
        }
        case S_BODY_EOF: {
          if (pos >= end) return pos;
          const chunk = pos === 0 && end === buf.length ? buf : this.view(buf, pos, end - pos);
          this.bodyBytes += end - pos;
          pos = end;
          if (!this.sink.onResponseBody(chunk)) return pos;
          break;
        }
        case S_CHUNK_FRAMING: {
          if (pos >= end) return pos;
          const chunked = this.chunked;
          pos = chunked.feed(buf, pos, end);
          if (pos < 0) return this.fail(chunked.error);
          if (chunked.state === S_CHUNK_DATA_NEXT) {
            this.remaining = chunked.chunkSize;
            this.state = S_CHUNK_DATA;
          } else if (chunked.state === S_CHUNKED_DONE) {
            this.state = S_DONE;
          }
          break;
        }
        case S_DONE:
          return pos;
        default:
          return -1; // S_ERROR
      }
      if (this.stop) {
        this.stop = false;
        return pos;
      }
    }
  }

  /**
   * buf[pos, pos + n) as a Buffer view: the last one again when it had the same place (a server
   * answering with the same head and body length puts its bodies at the same offset of the
   * codec's read buffer read after read). A new view is a FastBuffer (~45 ns); the body slice is
   * valid during the sink's call only, so one view object serves every response it covers.
   */
  private view(buf: Buffer, pos: number, n: number): Buffer {
    const last = this.lastView;
    if (last !== null && last.length === n && this.lastViewOf === buf && this.lastViewAt === pos) return last;
    const view = buf.subarray(pos, pos + n);
    this.lastView = view;
    this.lastViewOf = buf;
    this.lastViewAt = pos;
    return view;
  }

  /**
   * The peer closed the connection. Returns true when that completes the response (a
   * close-delimited body, or already done); false otherwise, with `error` set.
   */
  finish(): boolean {
    if (this.state === S_BODY_EOF || this.state === S_DONE) {
      this.state = S_DONE;
      return true;
    }
    if (this.state === S_ERROR) return false;
    if (this.state === S_HEAD) this.error = this.statusDone || this.partialLen > 0 ? 'connection closed in the response head' : 'connection closed before a response';
    else if (this.state === S_BODY_LENGTH) this.error = `connection closed with ${this.remaining} body bytes missing`;
    else this.error = 'connection closed in a chunked body';
    this.state = S_ERROR;
    return false;
  }

  private fail(message: string): number {
    this.error = message;
    this.state = S_ERROR;
    return -1;
  }

  // ---- head ----

  private parseHead(b: Buffer, pos: number, end: number): number {
    if (this.partialLen > 0) {
      const p = this.partial as Buffer;
      if (p[this.partialLen - 1] === CR && b[pos] !== LF) return this.fail('bare CR in response head');
      let lf = b.indexOf(LF, pos);
      if (lf >= end) lf = -1; // b may be a reused buffer longer than this read
      const take = lf < 0 ? end - pos : lf + 1 - pos;
      if (this.headBytes + this.partialLen + take > MAX_HEAD_BYTES) return this.fail('response head larger than 64 KiB');
      this.appendPartial(b, pos, pos + take);
      pos += take;
      if (lf < 0) return pos;
      const len = this.partialLen;
      this.partialLen = 0;
      const r = this.parseLine(this.partial as Buffer, 0, len);
      if (r === -1) return -1;
      if (r !== len) return this.fail('malformed response head line');
      this.headBytes += len;
      if (this.state !== S_HEAD) return pos;
    }
    while (pos < end) {
      if (!this.statusDone) {
        // a head starts here: the same bytes as the last one mean the same head
        const len = this.lastHeadLen;
        if (len > 0 && end - pos >= len && b.compare(this.lastHead as Buffer, 0, len, pos, pos + len) === 0) {
          pos = this.sameHeadAgain(pos + len);
          if (pos < 0 || this.state !== S_HEAD) return pos;
          continue;
        }
        this.startHead(b, pos);
      }
      const r = this.parseLine(b, pos, end);
      if (r === -1) return -1;
      if (r === -2) {
        if (this.headBytes + (end - pos) > MAX_HEAD_BYTES) return this.fail('response head larger than 64 KiB');
        this.appendPartial(b, pos, end);
        return end;
      }
      this.headBytes += r - pos;
      if (this.headBytes > MAX_HEAD_BYTES) return this.fail('response head larger than 64 KiB');
      pos = r;
      if (this.state !== S_HEAD) return pos;
    }
    // the head goes on in the next read (a line ended where this one did): not remembered, since
    // headBuf/headFrom would point into this read's buffer (the codec reuses it for the next)
    this.headBuf = null;
    return pos;
  }

  /** A head is parsed the long way from b[pos]: the remembered one is forgotten, what it said cleared. */
  private startHead(b: Buffer, pos: number): void {
    this.lastHeadLen = 0;
    this.contentLength = -1;
    this.hasTE = false;
    this.teChunked = false;
    this.connClose = false;
    this.connKeepAlive = false;
    this.fieldCount = 0;
    this.filtered = null;
    this.headBuf = b;
    this.headFrom = pos;
  }

  /** The head that ends at `next` has the remembered head's bytes: what it said is still in place. */
  private sameHeadAgain(next: number): number {
    this.statusDone = true;
    this.headBytes = this.lastHeadLen;
    this.headBuf = null;
    return this.endOfHead(next);
  }

  /** Remembers the bytes of the final head b[from, to), parsed from this one buffer, for sameHeadAgain. */
  private rememberHead(b: Buffer, from: number, to: number): void {
    const len = to - from;
    if (len > MAX_REMEMBERED_HEAD) return;
    if (this.lastHead === null || this.lastHead.length < len) this.lastHead = Buffer.allocUnsafe(Math.max(len, 512));
    b.copy(this.lastHead, 0, from, to);
    this.lastHeadLen = len;
  }

  private appendPartial(b: Buffer, from: number, to: number): void {
    this.headBuf = null; // the head spans reads: not remembered
    const need = this.partialLen + (to - from);
    let p = this.partial;
    if (p === null || p.length < need) {
      const grown = Buffer.allocUnsafe(Math.max(need, p === null ? 1024 : p.length * 2));
      if (p !== null) p.copy(grown, 0, 0, this.partialLen);
      p = grown;
      this.partial = grown;
    }
    b.copy(p, this.partialLen, from, to);
    this.partialLen = need;
  }

  /** One head line starting at ls. Returns the offset after its LF, -2 if incomplete, -1 on error. */
  private parseLine(b: Buffer, ls: number, end: number): number {
    if (!this.statusDone) return this.parseStatusLine(b, ls, end);
    let c = b[ls]!;
    if (c === CR) {
      if (ls + 1 >= end) return -2;
      if (b[ls + 1] !== LF) return this.fail('bare CR in response head');
      return this.endOfHead(ls + 2);
    }
    if (c === LF) return this.fail('bare LF in response head');
    if (isOws(c)) return this.fail('obsolete line folding in response head');
    let i = ls;
    while (i < end && TOKEN[b[i]!] === 1) i++;
    if (i >= end) return -2;
    if (b[i] !== COLON || i === ls) return this.fail('invalid response header name');
    const nameEnd = i;
    i++;
    while (i < end && isOws(b[i]!)) i++;
    const vs = i;
    let ve = i;
    for (; i < end; i++) {
      c = b[i]!;
      if (c > SP) {
        ve = i + 1; // (most bytes: one comparison)
        continue;
      }
      if (c === CR) break;
      if (c === LF) return this.fail('bare LF in response header value');
      if (c === 0) return this.fail('NUL in response header value');
      if (c !== SP && c !== HTAB) ve = i + 1;
    }
    if (i + 1 >= end) return -2;
    if (b[i + 1] !== LF) return this.fail('bare CR in response header value');

    const nameLen = nameEnd - ls;
    if (nameLen === 14 && lowerEquals(b, ls, CONTENT_LENGTH)) {
      if (ve === vs) return this.fail('empty Content-Length');
      if (ve - vs > 15) return this.fail('Content-Length too large');
      let n = 0;
      for (let j = vs; j < ve; j++) {
        const d = b[j]! - 48;
        if (d < 0 || d > 9) return this.fail('invalid Content-Length');
        n = n * 10 + d;
      }
      if (this.contentLength >= 0 && this.contentLength !== n) return this.fail('conflicting Content-Length headers');
      this.contentLength = n;
    } else if (nameLen === 17 && lowerEquals(b, ls, TRANSFER_ENCODING)) {
      this.hasTE = true;
      this.teChunked = lastTokenIs(b, vs, ve, CHUNKED);
    } else if (nameLen === 10 && lowerEquals(b, ls, CONNECTION)) {
      this.connectionTokens(b, vs, ve);
    }
    const l = b as unknown as Latin1;
    const h = this.headers;
    const k = this.fieldCount;
    const prevName = h[k];
    const prevValue = h[k + 1];
    h[k] = prevName !== undefined && sameBytes(prevName, b, ls, nameEnd) ? prevName : knownHeaderName(b, ls, nameEnd) ?? l.latin1Slice(ls, nameEnd);
    h[k + 1] = prevValue !== undefined && sameBytes(prevValue, b, vs, ve) ? prevValue : l.latin1Slice(vs, ve);
    this.fieldCount = k + 2;
    return i + 2;
  }

  private parseStatusLine(b: Buffer, ls: number, end: number): number {
    // Fail fast on garbage: the line must start with "HTTP/1."
    const prefix = Math.min(7, end - ls);
    for (let k = 0; k < prefix; k++) {
      if (b[ls + k] !== HTTP_1_DOT[k]) return this.fail('invalid status line');
    }
    let i = ls;
    for (; i < end; i++) {
      const c = b[i]!;
      if (c === CR) break;
      if (c === LF) return this.fail('bare LF in status line');
      if (c === 0) return this.fail('NUL in status line');
    }
    if (i + 1 >= end) return -2;
    if (b[i + 1] !== LF) return this.fail('bare CR in status line');
    const len = i - ls;
    if (len < 12) return this.fail('invalid status line');
    const minor = b[ls + 7]! - 48;
    const s0 = b[ls + 9]! - 48;
    const s1 = b[ls + 10]! - 48;
    const s2 = b[ls + 11]! - 48;
    if (minor < 0 || minor > 9 || b[ls + 8] !== SP || s0 < 1 || s0 > 9 || s1 < 0 || s1 > 9 || s2 < 0 || s2 > 9 || (len > 12 && b[ls + 12] !== SP)) {
      return this.fail('invalid status line');
    }
    this.status = s0 * 100 + s1 * 10 + s2;
    this.version11 = minor >= 1;
    this.statusDone = true;
    return i + 2;
  }

  /** Connection: close / keep-alive tokens (comma list, any case). */
  private connectionTokens(b: Buffer, vs: number, ve: number): void {
    let i = vs;
    while (i < ve) {
      while (i < ve && (b[i] === COMMA || isOws(b[i]!))) i++;
      const ts = i;
      while (i < ve && b[i] !== COMMA) i++;
      let te = i;
      while (te > ts && isOws(b[te - 1]!)) te--;
      const n = te - ts;
      if (n === 5 && lowerEquals(b, ts, CLOSE)) this.connClose = true;
      else if (n === 10 && lowerEquals(b, ts, KEEP_ALIVE)) this.connKeepAlive = true;
    }
  }

  /** The blank line: decides framing and reuse, or skips an interim (1xx) response. */
  private endOfHead(next: number): number {
    const status = this.status;
    if (status < 200) {
      if (status === 101 && this.upgrade) {
        this.state = S_DONE;
        if (!this.sink.onResponseHead(status, this.takeHeaders())) this.stop = true;
        return next;
      }
      if (status === 101) return this.fail('unexpected 101 Switching Protocols');
      // an interim head: the final one follows (parsed the long way, it starts from cleared fields)
      this.statusDone = false;
      this.headBytes = 0;
      return next;
    }
    if (this.contentLength >= 0 && this.hasTE) return this.fail('both Content-Length and Transfer-Encoding');
    let keepAlive = this.version11 ? !this.connClose : this.connKeepAlive && !this.connClose;
    let state: number;
    if (this.headRequest || status === 204 || status === 304) {
      state = S_DONE;
    } else if (this.hasTE) {
      if (this.teChunked) {
        state = S_CHUNK_FRAMING;
        this.chunked.start();
      } else {
        state = S_BODY_EOF; // a final coding other than chunked: the body runs to EOF
        keepAlive = false;
      }
    } else if (this.contentLength >= 0) {
      this.remaining = this.contentLength;
      state = this.contentLength === 0 ? S_DONE : S_BODY_LENGTH;
    } else {
      state = S_BODY_EOF;
      keepAlive = false;
    }
    this.keepAlive = keepAlive;
    this.state = state;
    if (this.headBuf !== null) {
      this.rememberHead(this.headBuf, this.headFrom, next);
      this.headBuf = null;
    }
    if (!this.sink.onResponseHead(status, this.takeHeaders())) this.stop = true;
    return next;
  }

  /** The head's fields as a list of their own (the receiver may keep and edit it): as received, or filtered (`filtering`; not a 101's). */
  private takeHeaders(): string[] {
    if (!this.filtering || this.status < 200) {
      this.handedFiltered = false;
      return this.headers.slice(0, this.fieldCount);
    }
    this.handedFiltered = true;
    let filtered = this.filtered;
    if (filtered === null) {
      // (the parser checked every name and value as it read them)
      filtered = this.headers.slice(0, this.fieldCount);
      this.filteredLength = filterResponseHeaders(filtered, true);
      this.filtered = filtered;
    }
    return filtered.slice();
  }
}

/** True when the last comma-separated token of b[vs, ve) is `lower` (any case). */
function lastTokenIs(b: Buffer, vs: number, ve: number, lower: Uint8Array): boolean {
  let te = ve;
  while (te > vs && isOws(b[te - 1]!)) te--;
  let ts = te;
  while (ts > vs && b[ts - 1] !== COMMA) ts--;
  while (ts < te && isOws(b[ts]!)) ts++;
  return te - ts === lower.length && lowerEquals(b, ts, lower);
}
