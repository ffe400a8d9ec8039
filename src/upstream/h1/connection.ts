// One upstream TCP connection: carries one exchange at a time (the request written by its
// RequestSender: head, then the body with backpressure and meshlet's own framing), feeds the
// response through its ResponseParser, and maps every way the exchange can end to exactly one
// onUpstreamEnd / onUpstreamError.
import net from 'node:net';
import type { TLSSocket } from 'node:tls';
import {
  ProxyError, internalError, upstreamConnectFailure, upstreamConnectionTermination, upstreamProtocolError, upstreamResetMidResponse,
} from '../../http/errors.js';
import { readDirect } from '../../tcp/direct-read.js';
import { now, readEnded, readStarted } from '../../tcp/read-time.js';
import { connectTls, meshPeerPrincipal, type UpstreamTls } from '../../tls/outbound/client-tls.js';
import type { Exchange } from './exchange.js';
import { RequestSender, type RequestOwner } from './request-sender.js';
import { MX_ALPN, MxOnce } from '../../telemetry/mx-once.js';
import { ResponseParser, S_DONE, type ResponseSink } from './response-parser.js';

export const CONNECTING = 0;
export const IDLE = 1;
export const ACTIVE = 2;
export const CLOSED = 3;

export interface ConnectionOwner {
  /** 0 = no limit */
  readonly maxRequestsPerConnection: number;
  onConnected(conn: Connection): void;
  onConnectFailed(conn: Connection, err: ProxyError): void;
  /** The exchange ended cleanly and the connection can carry another. */
  release(conn: Connection): void;
  /** The connection is gone (state was `prev`). */
  remove(conn: Connection, prev: number): void;
}

/**
 * Upstream sockets (plaintext and mTLS) read into this one buffer (net's `onread`): no allocation per read
 * and no Readable stream in between. Safe because a read is parsed and delivered synchronously;
 * whatever must outlive the callback (input held while paused, a body chunk the client cannot
 * take yet) is copied out.
 */
const READ_BUFFER = Buffer.allocUnsafe(64 * 1024);

export class Connection implements ResponseSink, RequestOwner {
  state = CONNECTING;
  /** slot in the owner's connection list */
  index = -1;
  /** when it last became idle, or when it started connecting (read-time.ts now(), the pool's clock) */
  since: number;
  /** requests assigned so far (> 1 means this exchange reuses a keep-alive connection) */
  requests = 0;
  ex: Exchange | null = null;
  /** mesh mTLS: the server's SPIFFE id, read once the handshake (and its identity check) passed */
  peerPrincipal: string | null = null;
  /** the metadata exchange once per connection, when the mTLS handshake chose it (telemetry/mx-once.ts) */
  mx: MxOnce | null = null;

  private readonly owner: ConnectionOwner;
  private readonly socket: net.Socket;
  private readonly parser: ResponseParser;
  private readonly request: RequestSender;

  // response side
  private paused = false;
  private inFeed = false;
  /** unprocessed input kept while paused (also: a completed response whose end waits for resume) */
  private pendingBuf: Buffer | null = null;
  private pendingEof = false;
  private responseStarted = false;
  private headersDelivered = false;

  constructor(owner: ConnectionOwner, address: string, port: number, tls: UpstreamTls | null = null) {
    this.owner = owner;
    this.since = now();
    this.parser = new ResponseParser(this, true);
    // mTLS: usable once the handshake and the server's SPIFFE id check passed; a failure of
    // either arrives as 'error' while CONNECTING, i.e. a connect failure (UF, retryable)
    const socket = tls === null
      ? net.connect({ host: address, port, onread: { buffer: READ_BUFFER, callback: this.onRead } })
      : connectTls(address, port, tls, READ_BUFFER, this.onRead);
    this.socket = socket;
    if (tls === null) readDirect(socket, this.onRead);
    socket.setNoDelay(true);
    socket.setKeepAlive(true, 60_000);
    socket.on(tls === null ? 'connect' : 'secureConnect', this.onConnect);
    socket.on('end', this.onEnd);
    socket.on('error', this.onError);
    socket.on('close', this.onClose);
    this.request = new RequestSender(socket, this);
  }

  // ---- exchange lifecycle ----

  /** Starts `ex` on this (idle) connection: its request is written now, or with its body's first chunk. */
  assign(ex: Exchange): void {
    this.ex = ex;
    ex.conn = this;
    ex.queued = false;
    this.state = ACTIVE;
    this.requests++;
    const once = this.mx;
    // this sidecar's metadata goes until the server's has been believed (telemetry/mx-once.ts)
    if (once !== null && ex.mxFrom >= 0 && once.peerId !== -2) ex.head = ex.head.slice(0, ex.mxFrom) + ex.head.slice(ex.mxTo);
    this.parser.reset(ex.isHead);
    this.responseStarted = false;
    this.headersDelivered = false;
    this.pendingEof = false;
    if (!this.request.start(ex)) return;
    if (ex.paused) this.pauseReading();
  }

  /** The Content-Length of the response head being delivered when it comes filtered for the client (response-parser.ts), else undefined. */
  get filteredLength(): number | undefined {
    return this.parser.handedFiltered ? this.parser.filteredLength : undefined;
  }

  /** Flow-control state, for Exchange.describe(). */
  describe(): string {
    const s = this.socket;
    return `connection state=${this.state} paused=${this.paused} socketPaused=${s.isPaused()} held=${this.pendingBuf?.length ?? 0} ` +
      `pendingEof=${this.pendingEof} ${this.request.describe()} ` +
      `writableLength=${s.writableLength} needDrain=${s.writableNeedDrain} bytesWritten=${s.bytesWritten} bytesRead=${s.bytesRead}`;
  }

  pauseReading(): void {
    if (this.paused) return;
    this.paused = true;
    this.socket.pause();
  }

  resumeReading(): void {
    if (!this.paused) return;
    this.paused = false;
    if (!this.inFeed) {
      const buf = this.pendingBuf;
      if (buf !== null) {
        this.pendingBuf = null;
        this.process(buf, 0, buf.length);
        if (this.paused || this.state !== ACTIVE) return;
      }
      if (this.pendingEof) {
        this.pendingEof = false;
        this.eof();
        return;
      }
    }
    if (this.state !== CLOSED) this.socket.resume();
  }

  abortExchange(ex: Exchange): void {
    if (this.ex !== ex) return;
    this.ex = null;
    ex.conn = null;
    this.destroy();
  }

  /** Closes the connection now (idle sweep, pool close). A running exchange gets an error. */
  destroy(detail = 'connection closed'): void {
    if (this.state === CLOSED) return;
    if (this.ex !== null) return this.failExchange(this.goneError(detail));
    const prev = this.state;
    this.state = CLOSED;
    this.request.detach();
    this.pendingBuf = null;
    this.socket.destroy();
    this.owner.remove(this, prev);
  }

  /** The connection dies mid-exchange: typed error for where the response had got to. */
  goneError(detail: string): ProxyError {
    if (this.headersDelivered) return upstreamResetMidResponse(detail);
    // retryable: a reused keep-alive connection closed before any byte of the response
    return upstreamConnectionTermination(detail, !this.responseStarted && this.requests > 1);
  }

  connectTimedOut(ms: number): void {
    if (this.state === CONNECTING) this.connectFailed(upstreamConnectFailure('connection timeout', `connect timeout after ${ms} ms`));
  }

  private connectFailed(err: ProxyError): void {
    this.state = CLOSED;
    this.socket.destroy();
    this.owner.onConnectFailed(this, err);
  }

  /** RequestOwner: the request's body failed or broke its framing. */
  requestFailed(err: ProxyError): void {
    this.failExchange(err);
  }

  private failExchange(err: ProxyError): void {
    const ex = this.ex;
    this.ex = null;
    if (ex !== null) {
      ex.conn = null;
      ex.done = true;
    }
    this.destroy();
    if (ex !== null) ex.handler.onUpstreamError(err);
  }

  /** The response is complete: reuse or close, then tell the handler (after the pool has the connection back). */
  private complete(trailing: boolean): void {
    const ex = this.ex as Exchange;
    const limit = this.owner.maxRequestsPerConnection;
    const reuse = !trailing && this.parser.keepAlive && this.request.done && !ex.isHead && !this.pendingEof && (limit === 0 || this.requests < limit);
    this.ex = null;
    ex.conn = null;
    ex.done = true;
    this.request.stop();
    if (reuse) {
      this.state = IDLE;
      if (this.socket.isPaused()) this.socket.resume(); // idle sockets read, to notice the upstream closing
      this.owner.release(this);
    } else {
      this.destroy();
    }
    ex.handler.onUpstreamEnd();
  }

  // ---- socket events (bound once per connection) ----

  private readonly onConnect = (): void => {
    if (this.state !== CONNECTING) return;
    this.state = IDLE;
    if ((this.socket as TLSSocket).encrypted === true) {
      this.peerPrincipal = meshPeerPrincipal(this.socket as TLSSocket);
      if ((this.socket as TLSSocket).alpnProtocol === MX_ALPN) this.mx = new MxOnce();
    }
    this.owner.onConnected(this);
  };

  /** READ_BUFFER[0, nread) (plaintext, and the decrypted bytes of mesh mTLS) */
  private readonly onRead = (nread: number): boolean => {
    readStarted();
    try {
      this.received(READ_BUFFER, nread);
    } finally {
      readEnded();
    }
    return true; // pausing goes through socket.pause()
  };

  private received(buf: Buffer, end: number): void {
    if (this.state !== ACTIVE) {
      if (this.state === IDLE) this.destroy(); // unsolicited bytes: the connection cannot be trusted
      return;
    }
    this.responseStarted = true;
    if (this.paused || this.pendingBuf !== null) {
      // only if the socket delivers while paused: keep the order (a copy), parse on resume
      const held = this.pendingBuf;
      this.pendingBuf = held === null ? Buffer.from(buf.subarray(0, end)) : Buffer.concat([held, buf.subarray(0, end)]);
      return;
    }
    this.process(buf, 0, end);
  }

  private readonly onEnd = (): void => this.peerClosed();

  private readonly onClose = (): void => {
    if (this.state === CONNECTING) this.connectFailed(upstreamConnectFailure('remote connection failure', 'connection closed while connecting'));
    else this.peerClosed();
  };

  private peerClosed(): void {
    if (this.state === ACTIVE) {
      if (this.pendingBuf !== null) this.pendingEof = true;
      else this.eof();
    } else if (this.state !== CLOSED) {
      this.destroy(); // an idle keep-alive connection closed by the upstream
    }
  }

  private readonly onError = (err: Error): void => {
    const code = (err as { code?: string }).code;
    const detail = code === undefined ? err.message : `${code} ${err.message}`;
    if (this.state === CONNECTING) this.connectFailed(upstreamConnectFailure('remote connection failure', detail, code));
    else if (this.state === ACTIVE) this.failExchange(this.goneError(detail));
    else this.destroy();
  };

  // ---- response side ----

  private process(buf: Buffer, off: number, end: number): void {
    const ex = this.ex as Exchange;
    let r: number;
    this.inFeed = true;
    try {
      r = this.parser.feed(buf, off, end);
    } catch (err) {
      // a handler callback threw: the exchange cannot continue
      this.inFeed = false;
      if (this.ex === ex) this.failExchange(internalError(err));
      return;
    }
    this.inFeed = false;
    if (this.ex !== ex) return; // aborted from a callback
    if (r < 0) {
      // malformed framing (a bare LF after a chunk size, say) is a protocol error wherever it is
      // found, as in Envoy; a client whose response had started has its connection closed
      this.failExchange(upstreamProtocolError(this.parser.error));
      return;
    }
    const done = this.parser.state === S_DONE;
    if (this.paused) {
      if (r < end || done) {
        // kept past this call: a copy (buf may be READ_BUFFER)
        this.pendingBuf = Buffer.from(buf.subarray(r, end));
      }
      return;
    }
    if (done) this.complete(r < end);
    else if (this.headersDelivered) ex.handler.onUpstreamReadEnd?.();
  }

  /** The upstream closed its side while this exchange was running. */
  private eof(): void {
    if (this.ex === null) return this.destroy();
    if (this.parser.finish()) this.complete(false);
    else this.failExchange(this.goneError(this.parser.error));
  }

  onResponseHead(status: number, headers: string[]): boolean {
    const ex = this.ex as Exchange;
    this.headersDelivered = true;
    // An error status (e.g. 413) before the body is sent: stop sending it. Other responses keep
    // receiving it (full-duplex streaming, e.g. an echo); the connection closes after if unfinished.
    if (status >= 400) this.request.stop();
    ex.handler.onUpstreamHeaders(status, headers);
    return this.ex === ex && !this.paused;
  }

  onResponseBody(chunk: Buffer): boolean {
    const ex = this.ex as Exchange;
    ex.handler.onUpstreamData(chunk);
    return this.ex === ex && !this.paused;
  }

  onResponseTrailers(trailers: string[]): void {
    (this.ex as Exchange).handler.onUpstreamTrailers?.(trailers);
  }
}
