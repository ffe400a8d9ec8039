// The life of an HTTP/1.1 client connection around its exchanges: one exchange at a time (a
// pipelined request waits, held, until the response before it is complete, then takes its turn),
// a request that cannot be read refused with its status and the connection closed after it (after
// a framing error nothing that follows on the connection can be trusted, RFC 9112 §6.3), the
// polite close (linger.ts), the listener's head, body and idle time-outs (sweep), the socket's
// events (drain, the client's FIN, close), reading paused for the request body's consumer or for
// too much held input, and the WebSocket upgrade: after the 101 (upgrade()) the client's bytes go
// to the relay the request path attached (UpgradedClient.relayTo), and the listener's sweeps and
// close reach it. Below it: writing (output.ts); above it: reading (connection.ts: H1Connection).
import type net from 'node:net';
import type { ProxyError } from '../../http/errors.js';
import { internalError, requestTimeout } from '../../http/errors.js';
import { errorReply } from '../../http/respond.js';
import type { ClientBody } from '../../request/client-body.js';
import { workerLog } from '../../log.js';
import { dateHeader, tick } from '../clock.js';
import type { ExchangeHandler, UpgradedClient, UpgradeTarget } from '../exchange.js';
import type { ConnectionOwner, H1Connection } from './connection.js';
import { linger, lingerEnded } from './linger.js';
import { BODY, CLOSED, CLOSING, H1Output, READY, UPGRADED, WAITING } from './output.js';

/** why reading is paused (bits of `paused`): the request body's consumer is full */
export const PAUSED_BY_BODY = 1;
/** ... or too much pipelined input is held (connection.ts) */
export const PAUSED_BY_HELD = 2;

export abstract class H1Lifecycle extends H1Output {
  /** input not processed yet (a partial head, or pipelined requests waiting for their turn) */
  protected held: Buffer | null = null;
  /** tick of the last read, and of the first byte of a head still incomplete (-1: none) */
  lastTick = tick;
  protected headTick = -1;
  protected paused = 0;
  /** inside process(): an exchange that ends meanwhile leaves the next request to its loop */
  protected inProcess = false;
  /** the client sent FIN: requests already received are answered, then the connection closes */
  private peerEnded = false;
  /** a pipelined request's turn is scheduled (processHeld) */
  private heldScheduled = false;

  // the exchange in progress
  protected handler: ExchangeHandler | null = null;
  protected body: ClientBody | null = null;
  protected responseDone = true;
  /** after upgrade(): what the client's bytes go to (null until relayTo) */
  protected target: UpgradeTarget | null = null;
  /** after upgrade(): input read before the 101 (pipelined behind the request head) */
  early: Buffer | null = null;
  /** while lingering (closeGracefully): the timer that destroys the socket */
  private lingerTimer: NodeJS.Timeout | null = null;

  constructor(socket: net.Socket, owner: ConnectionOwner) {
    super(socket, owner);
    socket.on('drain', this.onDrain.bind(this));
    socket.on('end', this.onEnd.bind(this));
    socket.on('error', ignore);
    socket.on('close', this.onClose.bind(this));
  }

  /** Reads buf[start, end): request heads, body bytes, or held input (connection.ts). */
  protected abstract process(buf: Buffer, start: number, end: number): void;

  // ---- ResponseSink (with output.ts) and body flow control ----

  reset(): void {
    this.responseDone = true;
    this.handler = null;
    this.close();
  }

  pauseBody(): void {
    this.pause(PAUSED_BY_BODY);
  }

  resumeBody(): void {
    this.resume(PAUSED_BY_BODY);
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
  protected exchangeDone(): void {
    const handler = this.handler;
    this.handler = null;
    if (handler !== null) handler.retired?.();
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

  /** The request body's framing broke or it stopped arriving: the exchange answers it, else the connection closes. */
  protected bodyFailed(err: ProxyError): void {
    this.closeAfter = true;
    const handler = this.handler;
    if (handler !== null && !this.responseDone) handler.onBodyError(err);
    else this.close();
  }

  /** A request that cannot be read: its status, then the connection closes. */
  protected refuse(err: ProxyError): void {
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
    if (wasOpen) this.owner.closed(this as H1Lifecycle as H1Connection); // (the one concrete class)
  }

  // ---- input flow control ----

  protected pause(reason: number): void {
    if (this.paused === 0 && this.state < CLOSING) this.socket.pause();
    this.paused |= reason;
  }

  protected resume(reason: number): void {
    if ((this.paused & reason) === 0) return;
    this.paused &= ~reason;
    if (this.paused === 0 && this.state < CLOSING) this.socket.resume();
  }
}

function processHeld(conn: H1Lifecycle): void {
  conn.runHeld();
}

function ignore(): void {}
