// One request/response exchange and the controller the caller holds for it. The only per-request
// object besides the head string and the delivered headers. A finished exchange is a no-op for a
// late pause/resume/abort instead of touching the connection's next exchange; it is reused only
// when its caller says it holds it no more (recycle()) and the codec has let go of it too.
import type { Readable } from 'node:stream';
import type { MxOnce } from '../../telemetry/mx-once.js';
import type { UpstreamController, UpstreamHandler } from '../codec.js';
import type { Connection } from './connection.js';

export interface ExchangeOwner {
  /** A queued (not yet assigned) exchange was aborted. */
  queuedAborted(ex: Exchange): void;
}

export class Exchange implements UpstreamController {
  // (what a request brings: set by reuse(), which the constructor calls)
  declare owner: ExchangeOwner;
  declare handler: UpstreamHandler;
  declare method: string;
  declare body: Readable | null;
  declare contentLength: number;
  declare isHead: boolean;
  /** request line + headers, without framing suffix; '' once written */
  head = '';
  /** where this sidecar's metadata headers are in `head` ([mxFrom, mxTo); -1: none) */
  mxFrom = -1;
  mxTo = -1;
  conn: Connection | null = null;
  /** ended: onUpstreamEnd/onUpstreamError was called, or the caller aborted */
  done = false;
  paused = false;
  queued = false;
  /** when it started waiting for a connection (read-time.ts now(); 0: it never waited) */
  queuedAt = 0;
  /** in FREE: recycle() once only */
  private free = false;

  constructor(owner: ExchangeOwner, handler: UpstreamHandler, method: string, body: Readable | null, contentLength: number) {
    this.reuse(owner, handler, method, body, contentLength);
  }

  /** A recycled exchange becomes a new one, as the constructor leaves it (a test checks every field). */
  reuse(owner: ExchangeOwner, handler: UpstreamHandler, method: string, body: Readable | null, contentLength: number): void {
    this.owner = owner;
    this.handler = handler;
    this.method = method;
    this.body = body;
    this.contentLength = contentLength;
    this.isHead = method === 'HEAD';
    this.head = '';
    this.mxFrom = -1;
    this.mxTo = -1;
    this.conn = null;
    this.done = false;
    this.paused = false;
    this.queued = false;
    this.queuedAt = 0;
    this.free = false;
  }

  /**
   * UpstreamController: the caller holds this exchange no more. It is reused when the codec has let
   * go of it as well: ended, off its connection (which drops it before the last callback), and it
   * never waited in a pool's queue (the queue skips taken entries lazily, by their `queued` flag).
   */
  recycle(): void {
    if (this.free || !this.done || this.conn !== null || this.queuedAt !== 0) return;
    this.free = true;
    // nothing of its request is held until reuse() (its pool, handler and body stay collectable)
    const self = this as unknown as Record<'owner' | 'handler', null>;
    self.owner = null;
    self.handler = null;
    this.body = null;
    if (FREE.length < FREE_MAX) FREE.push(this);
  }

  // constants of this codec, on the prototype (not two more fields per request)
  get signalsReadEnd(): boolean {
    return true;
  }

  get headersValidated(): boolean {
    return true;
  }

  /** the connection's parser hands out heads filtered for the client: their Content-Length (read while the head is delivered) */
  get filteredLength(): number | undefined {
    return this.conn === null ? undefined : this.conn.filteredLength;
  }

  get peerPrincipal(): string | null {
    return this.conn === null ? null : this.conn.peerPrincipal;
  }

  get mx(): MxOnce | null {
    return this.conn === null ? null : this.conn.mx;
  }

  pause(): void {
    if (this.done || this.paused) return;
    this.paused = true;
    if (this.conn !== null) this.conn.pauseReading();
  }

  resume(): void {
    if (this.done || !this.paused) return;
    this.paused = false;
    if (this.conn !== null) this.conn.resumeReading();
  }

  describe(): string {
    return `h1 exchange done=${this.done} paused=${this.paused} queued=${this.queued} ${this.conn === null ? 'no connection' : this.conn.describe()}`;
  }

  abort(_reason: Error): void {
    if (this.done) return;
    this.done = true;
    if (this.conn !== null) this.conn.abortExchange(this);
    else if (this.queued) this.owner.queuedAborted(this);
  }
}

/** recycled exchanges of this worker */
const FREE: Exchange[] = [];
const FREE_MAX = 256;

/** A new exchange, or a recycled one made new. */
export function takeExchange(owner: ExchangeOwner, handler: UpstreamHandler, method: string, body: Readable | null, contentLength: number): Exchange {
  const ex = FREE.pop();
  if (ex === undefined) return new Exchange(owner, handler, method, body, contentLength);
  ex.reuse(owner, handler, method, body, contentLength);
  return ex;
}
