// One request/response exchange and the controller the caller holds for it. The only per-request
// object besides the head string and the delivered headers; never reused, so a late pause/resume/
// abort from a finished exchange is a no-op instead of touching the connection's next exchange.
import type { Readable } from 'node:stream';
import type { MxOnce } from '../../telemetry/mx-once.js';
import type { UpstreamController, UpstreamHandler } from '../codec.js';
import type { Connection } from './connection.js';

export interface ExchangeOwner {
  /** A queued (not yet assigned) exchange was aborted. */
  queuedAborted(ex: Exchange): void;
}

export class Exchange implements UpstreamController {
  readonly owner: ExchangeOwner;
  readonly handler: UpstreamHandler;
  readonly method: string;
  readonly body: Readable | null;
  readonly contentLength: number;
  readonly isHead: boolean;
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
  /** Date.now() when it started waiting for a connection */
  queuedAt = 0;

  constructor(owner: ExchangeOwner, handler: UpstreamHandler, method: string, body: Readable | null, contentLength: number) {
    this.owner = owner;
    this.handler = handler;
    this.method = method;
    this.body = body;
    this.contentLength = contentLength;
    this.isHead = method === 'HEAD';
  }

  // constants of this codec, on the prototype (not two more fields per request)
  get signalsReadEnd(): boolean {
    return true;
  }

  get headersValidated(): boolean {
    return true;
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
