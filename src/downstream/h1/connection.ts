// One client connection of meshlet's HTTP/1.1 listener: reads into the worker's one input buffer
// (net `onread`: no allocation per read), parses each request head strictly, feeds the body
// through its framing decoder, answers requests in order (pipelined requests wait, held, until
// the response before them is complete), and writes each response head with its first body bytes
// in one write. A request it cannot read safely gets its status and the connection is closed:
// after a framing error nothing that follows on the connection can be trusted (RFC 9112 §6.3).
// A WebSocket upgrade leaves HTTP here: after the 101 (upgrade()), the client's bytes go to the
// relay the request path attached (UpgradedClient.relayTo), and the listener's sweeps and close reach it.
import type net from 'node:net';
import type { ProxyError } from '../../http/errors.js';
import { badRequest, headersTooLarge, internalError, requestTimeout, upgradeRequired } from '../../http/errors.js';
import { errorReply } from '../../http/respond.js';
import { ClientBody } from '../../request/client-body.js';
import { noteBodyBytes } from '../../request/body-memory.js';
import { workerLog } from '../../log.js';
import { clientAddress } from '../client-address.js';
import { dateHeader, tick } from '../clock.js';
import type { ExchangeHandler, ResponseSink, UpgradedClient, UpgradeTarget } from '../exchange.js';
import { BodyDecoder, type BodyTarget } from './body-decoder.js';
import { linger, lingerEnded } from './linger.js';
import { BODY, CLOSED, CLOSING, H1Output, READY, UPGRADED, WAITING } from './output.js';
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

const PAUSED_BY_BODY = 1;
const PAUSED_BY_HELD = 2;

export class H1Connection extends H1Output implements ResponseSink, BodyTarget, UpgradedClient {
  readonly remoteAddress: string;
  /** the mTLS peer (connections of an mTLS listener that finished their handshake); null for plaintext */
  readonly peer: PeerIdentity | null;
  /** input not processed yet (a partial head, or pipelined requests waiting for their turn) */
  private held: Buffer | null = null;
  /** tick of the last read, and of the first byte of a head still incomplete (-1: none) */
  lastTick = tick;
  private headTick = -1;
  private paused = 0;
  private inProcess = false;
  /** the client sent FIN: requests already received are answered, then the connection closes */
  private peerEnded = false;
  /** a pipelined request's turn is scheduled (processHeld) */
  private heldScheduled = false;
  /** requests started on this connection (only the first may be the HTTP/2 preface) */
  private requests = 0;
  /** the first bytes decide whether this is HTTP at all (a port without a declared protocol) */
  private sniffing: boolean;

  // the exchange in progress
  private readonly request = new RequestHead();
  private handler: ExchangeHandler | null = null;
  private body: ClientBody | null = null;
  private readonly decoder = new BodyDecoder();
  private responseDone = true;
  /** after upgrade(): what the client's bytes go to (null until relayTo) */
  private target: UpgradeTarget | null = null;
  /** after upgrade(): input read before the 101 (pipelined behind the request head) */
  early: Buffer | null = null;
  /** while lingering (closeGracefully): the timer that destroys the socket */
  private lingerTimer: NodeJS.Timeout | null = null;

  constructor(socket: net.Socket, owner: ConnectionOwner, peer: PeerIdentity | null) {
    super(socket, owner);
    this.peer = peer;
    this.sniffing = owner.sniffs === true;
    this.remoteAddress = clientAddress(socket.remoteAddress);
    socket.on('drain', this.onDrain.bind(this));
    socket.on('end', this.onEnd.bind(this));
    socket.on('error', ignore);
    socket.on('close', this.onClose.bind(this));
  }

  /** Plaintext sockets' onread callback: `n` bytes in IN_BUFFER. */
  onRead(n: number): void {
    if (this.state === UPGRADED) return this.upgradedRead(n);
    if (this.state >= CLOSING) return;
    this.lastTick = tick;
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

  private process(buf: Buffer, start: number, end: number): void {
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
    this.handler = this.owner.startExchange(this, head, body);
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

  private bodyFailed(err: ProxyError): void {
    this.closeAfter = true;
    const handler = this.handler;
    if (handler !== null && !this.responseDone) handler.onBodyError(err);
    else this.close();
  }

  // ---- ResponseSink (the rest: output.ts) ----

  reset(): void {
    this.responseDone = true;
    this.handler = null;
    this.close();
  }

  pauseBody(): void {
    this.pause(PAUSED_BY_BODY);
  }

  // ---- upgrade (WebSocket) ----

  upgrade(headers: string[]): UpgradedClient | null {
    if (this.state !== WAITING || this.socket.destroyed) return null;
    let s = `HTTP/1.1 101 Switching Protocols\r\ndate: ${dateHeader}\r\n`;
    for (let i = 0; i < headers.length; i += 2) s += headers[i] + ': ' + headers[i + 1] + '\r\n';
    this.socket.write(`${s}connection: upgrade\r\nupgrade: websocket\r\n\r\n`, 'latin1');
    this.state = UPGRADED;
    this.responseDone = true;
    this.handler = null;
    this.body = null;
    this.early = this.held;
    this.held = null;
    this.paused = 0;
    this.socket.pause(); // the relay resumes it
    return this;
  }

  relayTo(target: UpgradeTarget): void {
    this.target = target;
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

  private upgradedRead(n: number): void {
    const target = this.target;
    if (target === null) return;
    const chunk = Buffer.allocUnsafe(n);
    IN_BUFFER.copy(chunk, 0, 0, n);
    target.fromDown(chunk);
  }

  resumeBody(): void {
    this.resume(PAUSED_BY_BODY);
  }

  // ---- the end of an exchange ----

  protected responseEnded(): void {
    this.responseDone = true;
    if (this.state === BODY) {
      // answered before the request body was read: the rest of it cannot be told from a next request
      this.closeAfter = true;
      this.handler = null;
      this.body = null;
      this.resume(PAUSED_BY_BODY);
      this.closeGracefully();
    } else if (this.state === WAITING) {
      this.exchangeDone();
    }
  }

  /** Request read and response written: the connection takes its next request, or closes. */
  private exchangeDone(): void {
    this.handler = null;
    this.body = null;
    if (this.closeAfter) return this.closeGracefully();
    this.state = READY;
    this.waitingDrain = false;
    if (this.inProcess) return; // (inside process() the loop goes on by itself)
    if (this.held === null) {
      if (this.peerEnded) this.closeGracefully();
      return;
    }
    this.resume(PAUSED_BY_HELD);
    // the next pipelined request, once this call stack (the previous response) has unwound; input
    // that arrives meanwhile is appended to `held`, so the order stays
    this.heldScheduled = true;
    setImmediate(processHeld, this);
  }

  /** @internal a pipelined request's turn */
  runHeld(): void {
    this.heldScheduled = false;
    const held = this.held;
    if (held === null || this.state !== READY) return;
    this.held = null;
    try {
      this.process(held, 0, held.length);
    } catch (err) {
      workerLog().error({ err: (err as Error).stack ?? String(err) }, 'internal error reading a request');
      this.refuse(internalError(err));
    }
    // the client has finished sending: what is left is an incomplete head that can never complete
    if (this.peerEnded && this.state === READY) this.closeGracefully();
  }

  /** A request that cannot be read: its status, then the connection closes. */
  private refuse(err: ProxyError): void {
    if (this.state >= CLOSING) return;
    const handler = this.handler;
    if (handler !== null && !this.responseDone) {
      // (an exchange in progress: it answers, and the connection closes after it)
      this.closeAfter = true;
      handler.onBodyError(err);
      return;
    }
    const { headers, body } = errorReply(err, '');
    this.closeAfter = true;
    if (this.socket.destroyed) return;
    this.owner.refused(err, this.writeRefusal(err.status, headers, body));
    this.closeGracefully();
  }

  /** The last response is written: FIN after it, keep reading (and dropping) a while so a reset does not eat it. */
  private closeGracefully(): void {
    if (this.state >= CLOSING) return;
    this.state = CLOSING;
    this.held = null;
    this.paused = 0;
    this.socket.resume();
    this.lingerTimer = linger(this.socket);
  }

  /** Closes now (no reply can be written); an upgraded connection ends as its protocol says. */
  close(): void {
    if (this.state === CLOSED) return;
    if (this.state === UPGRADED && this.target !== null) return this.target.goAway();
    this.socket.destroy();
  }

  /** Drain: an idle keep-alive connection closes now; a busy one after its response (which says Connection: close). */
  closeIfIdle(): boolean {
    if (this.state !== READY || this.held !== null) return false;
    this.closeGracefully();
    return true;
  }

  /** Once a second: the head and idle time-outs (one sweep per listener, see H1Listener). */
  sweep(now: number): void {
    if (this.state === UPGRADED) return this.target?.sweep(now);
    const s = this.owner.settings;
    if (this.state === READY) {
      if (this.headTick >= 0) {
        if (now - this.headTick >= s.requestTimeoutS) this.refuse(requestTimeout('the request head did not arrive in time'));
      } else if (now - this.lastTick >= s.idleTimeoutS) {
        this.closeGracefully();
      }
    } else if (this.state === BODY && this.paused === 0 && now - this.lastTick >= s.requestTimeoutS) {
      this.bodyFailed(requestTimeout('the request body stopped arriving'));
    }
  }

  // ---- socket events ----

  private onDrain(): void {
    if (!this.waitingDrain) return;
    this.waitingDrain = false;
    this.handler?.onWritable();
  }

  /** The client finished sending (FIN): an exchange in progress still gets its response. */
  private onEnd(): void {
    if (this.state === UPGRADED) return; // the relay passes the FIN on
    this.peerEnded = true;
    if (this.state === CLOSING || this.state === CLOSED) return this.close();
    if (this.state === BODY) return this.close(); // the body can never complete
    // a response in progress, or pipelined requests waiting for their turn: they are answered first
    if (this.state === WAITING || this.heldScheduled) return;
    this.close();
  }

  private onClose(): void {
    if (this.lingerTimer !== null) {
      lingerEnded(this.lingerTimer);
      this.lingerTimer = null;
    }
    const wasOpen = this.state !== CLOSED;
    this.state = CLOSED;
    this.held = null;
    const handler = this.handler;
    this.handler = null;
    if (handler !== null && !this.responseDone) handler.onAborted();
    if (wasOpen) this.owner.closed(this);
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

  private pause(reason: number): void {
    if (this.paused === 0 && this.state < CLOSING) this.socket.pause();
    this.paused |= reason;
  }

  private resume(reason: number): void {
    if ((this.paused & reason) === 0) return;
    this.paused &= ~reason;
    if (this.paused === 0 && this.state < CLOSING) this.socket.resume();
  }
}

/** Buffer's own latin1 slicer (what toString('latin1') calls after checking its arguments). */
function latin1(buf: Buffer, start: number, end: number): string {
  return (buf as Buffer & { latin1Slice(start: number, end: number): string }).latin1Slice(start, end);
}

function processHeld(conn: H1Connection): void {
  conn.runHeld();
}

function ignore(): void {}

/** A bare LF (one not preceded by CR) in buf[start, end). */
function hasBareLf(buf: Buffer, start: number, end: number): boolean {
  let i = buf.indexOf(10, start);
  while (i >= 0 && i < end) {
    if (i === start || buf[i - 1] !== 13) return true;
    i = buf.indexOf(10, i + 1);
  }
  return false;
}
