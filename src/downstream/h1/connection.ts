// One client connection of meshlet's HTTP/1.1 listener, and its reading: reads into the worker's
// one input buffer (net `onread`, set up by adopt.ts: no allocation per read), holds input that
// must wait (a partial head, pipelined requests), parses each request head strictly
// (request-head.ts), feeds the body through its framing decoder (body-decoder.ts) and starts each
// request's exchange. A connection that opens with the HTTP/2 preface goes to the listener's
// HTTP/2 server; on a port whose protocol is not declared, one whose first bytes are not HTTP goes
// to TCP proxying. H1Connection is the one concrete class of three layers: writing responses
// (output.ts), the connection's life around its exchanges (lifecycle.ts: pipelining in order,
// refusals, closing, time-outs, the WebSocket upgrade) and reading (here). H1Settings and
// ConnectionOwner are what it asks of its listener.
import type net from 'node:net';
import type { TLSSocket } from 'node:tls';
import type { ProxyError } from '../../http/errors.js';
import { badRequest, headersTooLarge, internalError, upgradeRequired } from '../../http/errors.js';
import { ClientBody } from '../../request/client-body.js';
import { noteBodyBytes } from '../../request/body-memory.js';
import { readEnded, readStarted } from '../../tcp/read-time.js';
import { workerLog } from '../../log.js';
import { MX_ALPN, MxOnce } from '../../telemetry/mx-once.js';
import { clientAddress } from '../client-address.js';
import { tick } from '../clock.js';
import type { ExchangeHandler, ResponseSink, UpgradedClient } from '../exchange.js';
import { BodyDecoder, type BodyTarget } from './body-decoder.js';
import { H1Lifecycle, PAUSED_BY_HELD } from './lifecycle.js';
import { BODY, CLOSED, CLOSING, READY, UPGRADED, WAITING } from './output.js';
import type { PeerIdentity } from '../../tls/inbound/server-tls.js';
import { CHUNKED_BODY, MAX_HEAD_BYTES, NO_BODY, parseRequestHead, RequestHead } from './request-head.js';
import { SNIFF_MORE, SNIFF_NOT_HTTP, sniffHttp } from './sniff.js';

/** How the listener's connections behave; the same for every connection of a listener. */
export interface H1Settings {
  /** serve HTTP/1.0 requests (Envoy's accept_http_10); otherwise 426 */
  acceptHttp10: boolean;
  /** a keep-alive connection with no request for this many seconds is closed */
  idleTimeoutS: number;
  /** a request head (or a stalled request body) must arrive within this many seconds: else 408 */
  requestTimeoutS: number;
}

export interface ConnectionOwner {
  readonly settings: H1Settings;
  /** shutting down: every response says Connection: close */
  readonly draining: boolean;
  /** the request path for one parsed request */
  startExchange(sink: H1Connection, head: RequestHead, body: ClientBody | null): ExchangeHandler;
  /** the connection opened with the HTTP/2 preface: it is served as HTTP/2 from `first` on (downstream/h2/) */
  serveH2(conn: H1Connection, first: Buffer): void;
  /** a request refused while it was read (no exchange was started): one stats record */
  refused(err: ProxyError, bytesSent: number): void;
  closed(conn: H1Connection): void;
  /** the port's protocol is not declared: a connection whose first bytes are not HTTP goes to notHttp() */
  readonly sniffs?: boolean;
  /** a sniffed connection is not HTTP: it has left HTTP (as after a 101) and is proxied as TCP */
  notHttp?(conn: H1Connection): void;
}

/** Every connection of this worker reads into this buffer (adopt.ts); what must outlive a read is copied. */
export const IN_BUFFER = Buffer.allocUnsafe(64 * 1024);
const CRLFCRLF = Buffer.from('\r\n\r\n', 'latin1');
/** the HTTP/2 connection preface's first line, as a request head (RFC 9113 §3.4: `PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n`) */
const H2_PREFACE_HEAD = Buffer.from('PRI * HTTP/2.0', 'latin1');
const EMPTY = Buffer.alloc(0);
const CONTINUE = 'HTTP/1.1 100 Continue\r\n\r\n';
/** pipelined input held while a response is in progress; beyond it the connection stops reading */
const MAX_HELD = 64 * 1024;

export class H1Connection extends H1Lifecycle implements ResponseSink, BodyTarget, UpgradedClient {
  readonly remoteAddress: string;
  /** the mTLS peer (connections of an mTLS listener that finished their handshake); null for plaintext */
  readonly peer: PeerIdentity | null;
  /** the metadata exchange once per connection, when the mTLS handshake chose it (telemetry/mx-once.ts) */
  readonly mx: MxOnce | null;
  /** requests started on this connection (only the first may be the HTTP/2 preface) */
  private requests = 0;
  /** the first bytes decide whether this is HTTP at all (a port without a declared protocol) */
  private sniffing: boolean;

  // the request being read
  private readonly request = new RequestHead();
  private readonly decoder = new BodyDecoder();

  constructor(socket: net.Socket, owner: ConnectionOwner, peer: PeerIdentity | null) {
    super(socket, owner);
    this.peer = peer;
    this.mx = peer !== null && (socket as TLSSocket).alpnProtocol === MX_ALPN ? new MxOnce() : null;
    this.sniffing = owner.sniffs === true;
    this.remoteAddress = clientAddress(socket.remoteAddress);
  }

  /** Plaintext sockets' onread callback: `n` bytes in IN_BUFFER. */
  onRead(n: number): void {
    if (this.state === UPGRADED) return this.upgradedRead(n);
    if (this.state >= CLOSING) return;
    this.lastTick = tick;
    readStarted();
    try {
      if (this.held === null) this.process(IN_BUFFER, 0, n);
      else {
        const buf = Buffer.concat([this.held, IN_BUFFER.subarray(0, n)]);
        this.held = null;
        this.process(buf, 0, buf.length);
      }
    } catch (err) {
      // a bug: never let it reach the event loop (it would take the worker down with every connection)
      workerLog().error({ err: (err as Error).stack ?? String(err) }, 'internal error reading a request');
      this.refuse(internalError(err));
    } finally {
      readEnded();
    }
  }

  /**
   * The second input path: TLS sockets' 'data' chunks (decrypted; each a Buffer of its own, which
   * `hold` may keep without a copy), and the first bytes of a PERMISSIVE plaintext connection. The
   * same as onRead with the chunk for IN_BUFFER (kept apart so the plaintext path stays as it was).
   */
  onData(chunk: Buffer): void {
    if (this.state === UPGRADED) {
      this.target?.fromDown(chunk); // (the chunk is the reader's own)
      return;
    }
    if (this.state >= CLOSING) return;
    this.lastTick = tick;
    try {
      if (this.held === null) this.process(chunk, 0, chunk.length);
      else {
        const buf = Buffer.concat([this.held, chunk]);
        this.held = null;
        this.process(buf, 0, buf.length);
      }
    } catch (err) {
      // a bug: never let it reach the event loop (it would take the worker down with every connection)
      workerLog().error({ err: (err as Error).stack ?? String(err) }, 'internal error reading a request');
      this.refuse(internalError(err));
    }
  }

  protected process(buf: Buffer, start: number, end: number): void {
    this.inProcess = true;
    while (start < end) {
      const state = this.state;
      if (state === READY) {
        if (this.sniffing) {
          const seen = sniffHttp(buf, start, end);
          if (seen === SNIFF_MORE) {
            this.hold(buf, start, end);
            break;
          }
          this.sniffing = false;
          if (seen === SNIFF_NOT_HTTP) {
            this.hold(buf, start, end);
            this.leaveHttp();
            break;
          }
        }
        // RFC 9112 §2.2: empty lines before a request line are ignored
        while (start + 1 < end && buf[start] === 13 && buf[start + 1] === 10) start += 2;
        if (start === end) break;
        const at = this.readHead(buf, start, end);
        if (at < 0) break;
        start = at;
      } else if (state === BODY) {
        const used = this.decoder.feed(buf, start, end, this);
        if (used < 0) {
          this.bodyFailed(badRequest(`request body: ${this.decoder.error}`));
          break;
        }
        start += used;
        if (this.decoder.done) this.bodyEnded();
      } else if (state === WAITING) {
        // pipelined: the next request waits until this response is complete
        this.hold(buf, start, end);
        if (this.held !== null && this.held.length > MAX_HELD) this.pause(PAUSED_BY_HELD);
        break;
      } else {
        break; // closing: input is drained and dropped
      }
    }
    this.inProcess = false;
  }

  /** Reads one request head from buf[start, end): returns where its body starts, or -1 (held, or refused). */
  private readHead(buf: Buffer, start: number, end: number): number {
    // (buf may be the shared input buffer: bytes past `end` are another read's)
    let headEnd = buf.indexOf(CRLFCRLF, start);
    if (headEnd > end - 4) headEnd = -1;
    if (headEnd < 0) {
      if (end - start > MAX_HEAD_BYTES) this.refuse(headersTooLarge(`request head over ${MAX_HEAD_BYTES} bytes`));
      else if (hasBareLf(buf, start, end)) this.refuse(badRequest('bare LF in the request head'));
      else {
        if (this.headTick < 0) this.headTick = tick;
        this.hold(buf, start, end);
      }
      return -1;
    }
    if (headEnd - start > MAX_HEAD_BYTES) {
      this.refuse(headersTooLarge(`request head over ${MAX_HEAD_BYTES} bytes`));
      return -1;
    }
    if (this.requests === 0 && headEnd - start === H2_PREFACE_HEAD.length && buf.compare(H2_PREFACE_HEAD, 0, H2_PREFACE_HEAD.length, start, headEnd) === 0) {
      this.handOverToH2(buf, start, end);
      return -1;
    }
    const head = this.request;
    head.reset();
    const err = parseRequestHead(latin1(buf, start, headEnd), head);
    if (err !== null) {
      this.refuse(err);
      return -1;
    }
    if (head.version === 10 && !this.owner.settings.acceptHttp10) {
      this.version = 10;
      this.refuse(upgradeRequired());
      return -1;
    }
    this.headTick = -1;
    this.begin(head);
    return headEnd + 4;
  }

  /**
   * h2c with prior knowledge (Envoy's AUTO codec): the connection is HTTP/2 from its first byte.
   * It leaves this object (state CLOSED: its socket events are ignored from here on) for the
   * listener's HTTP/2 server, with the bytes read so far (a copy: buf may be the shared buffer).
   */
  private handOverToH2(buf: Buffer, start: number, end: number): void {
    const first = Buffer.allocUnsafe(end - start);
    buf.copy(first, 0, start, end);
    this.state = CLOSED;
    this.held = null;
    this.owner.serveH2(this, first);
  }

  /** Not HTTP (sniffed): everything read so far goes to the TCP session the owner starts. */
  private leaveHttp(): void {
    this.state = UPGRADED;
    this.early = this.held;
    this.held = null;
    this.paused = 0;
    this.socket.pause(); // the relay resumes it
    if (this.owner.notHttp !== undefined) this.owner.notHttp(this);
    else this.close();
  }

  /** Starts the exchange for a parsed head: the request path takes it from here. */
  private begin(head: RequestHead): void {
    this.requests++;
    // an upgrade that gets no 101 closes after its response: the client may already be speaking the new protocol
    this.startResponse(head.version, head.method === 'HEAD', !head.keepAlive || head.upgrade !== '');
    this.responseDone = false;
    let body: ClientBody | null = null;
    if (head.bodyKind !== NO_BODY) {
      body = new ClientBody(this);
      this.decoder.reset(head.bodyKind === CHUNKED_BODY ? -1 : head.contentLength);
      this.state = BODY;
      if (head.expectContinue) this.socket.write(CONTINUE, 'latin1');
    } else {
      this.state = WAITING;
    }
    this.body = body;
    this.handler = null;
    const handler = this.owner.startExchange(this, head, body);
    // a request answered at once (a local reply) may have ended inside startExchange, before it
    // had a handler here to let go of
    if (this.responseDone && this.state !== BODY) handler.retired?.();
    else this.handler = handler;
  }

  // ---- request body ----

  bodyBytes(buf: Buffer, start: number, end: number): void {
    const body = this.body as ClientBody;
    const chunk = Buffer.allocUnsafe(end - start);
    buf.copy(chunk, 0, start, end);
    noteBodyBytes(chunk.length);
    body.accept(chunk, false);
  }

  private bodyEnded(): void {
    (this.body as ClientBody).accept(EMPTY, true);
    this.state = WAITING;
    if (this.responseDone) this.exchangeDone();
  }

  private upgradedRead(n: number): void {
    const target = this.target;
    if (target === null) return;
    const chunk = Buffer.allocUnsafe(n);
    IN_BUFFER.copy(chunk, 0, 0, n);
    target.fromDown(chunk);
  }

  // ---- input bookkeeping ----

  private hold(buf: Buffer, start: number, end: number): void {
    if (start >= end) return;
    if (buf !== IN_BUFFER && start === 0 && end === buf.length) {
      this.held = this.held === null ? buf : Buffer.concat([this.held, buf]);
      return;
    }
    const copy = Buffer.allocUnsafe(end - start);
    buf.copy(copy, 0, start, end);
    this.held = this.held === null ? copy : Buffer.concat([this.held, copy]);
  }
}

/** Buffer's own latin1 slicer (what toString('latin1') calls after checking its arguments). */
function latin1(buf: Buffer, start: number, end: number): string {
  return (buf as Buffer & { latin1Slice(start: number, end: number): string }).latin1Slice(start, end);
}

/** A bare LF (one not preceded by CR) in buf[start, end). */
function hasBareLf(buf: Buffer, start: number, end: number): boolean {
  let i = buf.indexOf(10, start);
  while (i >= 0 && i < end) {
    if (i === start || buf[i - 1] !== 13) return true;
    i = buf.indexOf(10, i + 1);
  }
  return false;
}
