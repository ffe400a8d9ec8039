// The writing half of an HTTP/1.1 client connection, the ResponseSink calls the request path
// makes: each response's framing (Content-Length, chunked, or read to the close for HTTP/1.0;
// Connection: close when the connection ends after it), its head built in the worker's head
// writer and held back until the first body bytes so that both leave in one write, the trailers
// in the last chunk, whole synthetic replies, and the status of a refused request. The classes
// above it are the connection's life (lifecycle.ts) and its reading (connection.ts: H1Connection,
// the one concrete class); the end of each response goes up to them (responseEnded).
import { Latin1Writer } from '../../tcp/write-latin1.js';
import type net from 'node:net';
import { headBytes, headCrlf, headField, headNumber, headStart, headTake, headText } from '../../http/head-writer.js';
import { statusLine } from '../../http/status-lines.js';
import { dateHeader } from '../clock.js';
import type { ConnectionOwner } from './connection.js';

// The connection's state (`state`, declared here: nothing is written on a closed connection).
/** waiting for a request head */
export const READY = 1;
/** reading a request's body */
export const BODY = 2;
/** the request is read: its response is in progress (input that arrives meanwhile is held) */
export const WAITING = 3;
/** the last reply is written: input is read and dropped until the socket closes */
export const CLOSING = 4;
/** the socket closed (or went to HTTP/2) */
export const CLOSED = 5;
/** after a 101: bytes go to the upgrade target */
export const UPGRADED = 6;

const NO_HEADERS: string[] = [];
/** bodies up to this size are written to the socket as one string with their head */
const SMALL_BODY = 16 * 1024;

export abstract class H1Output {
  readonly socket: net.Socket;
  /** plaintext writes of whole strings straight to the socket's handle (tcp/write-latin1.ts) */
  private readonly out: Latin1Writer;
  protected readonly owner: ConnectionOwner;
  protected state = READY;
  /** the connection closes after this response (Connection: close) */
  protected closeAfter = false;
  /** the request's HTTP version (10 or 11) */
  protected version = 11;
  private headMethod = false;
  /** the response head waiting for its first body bytes (status 0: none) */
  private pendingStatus = 0;
  private pendingHeaders: string[] = NO_HEADERS;
  /** the Content-Length to write, -1 for none */
  private pendingLength = -1;
  private chunkedOut = false;
  /** trailer fields for the last chunk (flat name, value, ...; checked by the exchange) */
  private pendingTrailers: string[] = NO_HEADERS;
  /** a write did not take everything: the exchange hears onWritable() at the socket's next 'drain' */
  protected waitingDrain = false;

  constructor(socket: net.Socket, owner: ConnectionOwner) {
    this.socket = socket;
    this.out = new Latin1Writer(socket);
    this.owner = owner;
  }

  /** The response is complete (end(), reply()): the connection takes its next request, or closes. */
  protected abstract responseEnded(): void;

  /** A request was read: its response starts (HTTP `version`, to a HEAD request or not, the connection closing after it or not). */
  protected startResponse(version: number, headMethod: boolean, closeAfter: boolean): void {
    this.version = version;
    this.headMethod = headMethod;
    this.closeAfter = closeAfter;
    this.pendingStatus = 0;
    this.chunkedOut = false;
    this.pendingTrailers = NO_HEADERS;
  }

  head(status: number, headers: string[], contentLength: number, bodyless: boolean): void {
    // the framing is decided now; the head's bytes are built when they leave (with the first body bytes)
    let length = -1;
    if (bodyless) {
      if (contentLength >= 0 && status !== 204 && status !== 304) length = contentLength;
    } else if (contentLength >= 0) {
      length = contentLength;
    } else if (this.version === 11) {
      this.chunkedOut = true;
    } else {
      this.closeAfter = true; // an HTTP/1.0 client reads to the close
    }
    if (this.owner.draining) this.closeAfter = true;
    this.pendingStatus = status;
    this.pendingHeaders = headers;
    this.pendingLength = length;
  }

  /** Starts the next message in the head writer: the pending head, if any. */
  private buildHead(): void {
    headStart();
    const status = this.pendingStatus;
    if (status === 0) return;
    this.pendingStatus = 0;
    headBytes(statusAndDate(status));
    const h = this.pendingHeaders;
    for (let i = 0; i < h.length; i += 2) headField(h[i] as string, h[i + 1] as string);
    if (this.pendingLength >= 0) {
      headText('content-length: ');
      headNumber(this.pendingLength);
      headCrlf();
    } else if (this.chunkedOut) {
      headText('transfer-encoding: chunked\r\n');
    }
    if (this.closeAfter) headText('connection: close\r\n');
    else if (this.version === 10) headText('connection: keep-alive\r\n');
    headCrlf();
  }

  flush(): void {
    if (this.pendingStatus === 0 || this.state >= CLOSING) return;
    this.buildHead();
    this.out.write(headTake());
  }

  data(chunk: Buffer): boolean {
    if (this.state === CLOSED) return true;
    const n = chunk.length;
    const socket = this.socket;
    let ok: boolean;
    this.buildHead();
    if (this.chunkedOut) {
      headNumber(n, 16);
      headCrlf();
    }
    if (n <= SMALL_BODY) {
      // head and body as one string: it owns its bytes (the chunk may be a view of a reused read buffer)
      headBytes(chunk);
      if (this.chunkedOut) headCrlf();
      ok = this.out.write(headTake());
    } else {
      socket.cork();
      socket.write(headTake(), 'latin1');
      socket.write(Buffer.from(chunk));
      ok = this.chunkedOut ? socket.write('\r\n', 'latin1') : socket.writableLength < socket.writableHighWaterMark;
      socket.uncork();
    }
    if (!ok) this.waitingDrain = true;
    return ok;
  }

  trailers(headers: string[]): void {
    if (this.chunkedOut) this.pendingTrailers = headers;
  }

  end(): void {
    const pending = this.pendingStatus !== 0;
    if ((pending || this.chunkedOut) && this.state !== CLOSED) {
      this.buildHead();
      if (this.chunkedOut) {
        headText('0\r\n');
        const t = this.pendingTrailers;
        for (let i = 0; i < t.length; i += 2) headField(t[i] as string, t[i + 1] as string);
        headCrlf();
      }
      this.out.write(headTake());
    }
    this.responseEnded();
  }

  reply(status: number, headers: string[], body: string, close: boolean): void {
    if (close) this.closeAfter = true;
    this.chunkedOut = false;
    this.head(status, headers, body.length, this.headMethod);
    this.buildHead();
    if (!this.headMethod) headText(body);
    if (this.state !== CLOSED) this.out.write(headTake());
    this.responseEnded();
  }

  /** A refused request's reply (an error reply, the connection closing after it): the bytes written. */
  protected writeRefusal(status: number, headers: string[], body: string): number {
    this.headMethod = false;
    this.chunkedOut = false;
    this.head(status, headers, body.length, false);
    this.buildHead();
    headText(body);
    const out = headTake();
    this.socket.write(out, 'latin1');
    return out.length;
  }
}

/**
 * A head's first two lines, `HTTP/1.1 <status>` and `date: <the current second>`, as bytes: made
 * once per status each second (when the clock's date string changes) and copied into a head in
 * one go, instead of 40-odd characters copied one by one per response.
 */
let statusDate: (Buffer | undefined)[] = [];
/** the date statusDate's lines were made with */
let statusDateOf = '';
export function statusAndDate(status: number): Buffer {
  if (statusDateOf !== dateHeader) {
    statusDate = [];
    statusDateOf = dateHeader;
  }
  return statusDate[status] ??= Buffer.from(`HTTP/1.1 ${statusLine(status)}\r\ndate: ${dateHeader}\r\n`, 'latin1');
}
