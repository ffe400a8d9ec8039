// Bytes both ways between a downstream and an upstream socket, for proxied TCP connections and
// upgraded WebSockets: backpressure (a side that cannot take more pauses the other's reading, so
// memory stays bounded by the sockets' buffers), half-close (a FIN one way is passed on and the
// other way keeps flowing until its own FIN), and teardown (a reset or error on either side closes
// the other). Counts the bytes each way and the tick of the last byte (idle timeouts).
import type net from 'node:net';
import { tick } from '../downstream/clock.js';
import { readInto, readsItself, type ReadTarget } from './read-buffer.js';

export interface RelayOwner {
  /** Both sockets are closed (or destroyed): called once. */
  relayEnded(relay: Relay): void;
}

export class Relay implements ReadTarget {
  readonly down: net.Socket;
  readonly up: net.Socket;
  private readonly owner: RelayOwner;
  /** bytes received from the downstream (and written upstream) */
  bytesIn = 0;
  /** bytes received from the upstream (and written downstream) */
  bytesOut = 0;
  /** clock tick of the last byte either way */
  lastTick = tick;
  /** a side closed before both directions had finished (reset, error, or closed by meshlet) */
  aborted = false;
  protected downEnded = false;
  protected upEnded = false;
  private downClosed = false;
  private upClosed = false;
  private waitingUp = false;
  private waitingDown = false;
  private ended = false;

  /**
   * `readsDown`: the relay takes the downstream's bytes itself ('data' events, or read-buffer.ts
   * sockets); false when they arrive through fromDown() from elsewhere (an upgraded HTTP connection,
   * see h1/connection.ts).
   */
  constructor(down: net.Socket, up: net.Socket, owner: RelayOwner, readsDown = true) {
    this.down = down;
    this.up = up;
    this.owner = owner;
    if (readsDown && !readsItself(down)) down.on('data', this.fromDown.bind(this));
    down.on('end', this.onDownEnd.bind(this));
    down.on('drain', this.onDownDrain.bind(this));
    down.on('error', ignore);
    down.on('close', this.onDownClose.bind(this));
    if (!readsItself(up)) up.on('data', this.fromUp.bind(this));
    up.on('end', this.onUpEnd.bind(this));
    up.on('drain', this.onUpDrain.bind(this));
    up.on('error', ignore);
    up.on('close', this.onUpClose.bind(this));
  }

  /** Starts the flow: `toUp` / `toDown` are bytes already read from the other side (null: none). */
  start(toUp: Buffer | null, toDown: Buffer | null): void {
    if (toUp !== null && toUp.length > 0) this.fromDown(toUp);
    if (toDown !== null && toDown.length > 0) this.fromUp(toDown);
    if (readsItself(this.down)) readInto(this.down, this);
    if (readsItself(this.up)) readInto(this.up, this);
    if (this.down.destroyed) return this.onDownClose();
    if (this.up.destroyed) return this.onUpClose();
    // a FIN that came before the relay (with the first bytes, while the upstream connected)
    if (this.down.readableEnded) this.onDownEnd();
    if (this.up.readableEnded) this.onUpEnd();
    if (!this.waitingUp) this.down.resume();
    if (!this.waitingDown) this.up.resume();
  }

  /** Downstream bytes (valid after the call: the caller passes an owned buffer). */
  fromDown(chunk: Buffer): void {
    this.bytesIn += chunk.length;
    this.lastTick = tick;
    this.writeUp(chunk);
  }

  /** ReadTarget: upstream bytes from a socket reading into the shared buffer. */
  fromUpstream(chunk: Buffer): void {
    this.fromUp(chunk);
  }

  protected fromUp(chunk: Buffer): void {
    this.bytesOut += chunk.length;
    this.lastTick = tick;
    this.writeDown(chunk);
  }

  protected writeUp(chunk: Buffer): void {
    if (!this.up.write(chunk) && !this.waitingUp) {
      this.waitingUp = true;
      this.down.pause();
    }
  }

  protected writeDown(chunk: Buffer): void {
    if (!this.down.write(chunk) && !this.waitingDown) {
      this.waitingDown = true;
      this.up.pause();
    }
  }

  private onUpDrain(): void {
    if (!this.waitingUp) return;
    this.waitingUp = false;
    if (!this.downEnded) this.down.resume();
  }

  private onDownDrain(): void {
    if (!this.waitingDown) return;
    this.waitingDown = false;
    if (!this.upEnded) this.up.resume();
  }

  /** The downstream finished sending: FIN upstream; the other direction goes on. */
  protected onDownEnd(): void {
    this.downEnded = true;
    if (!this.up.destroyed) this.up.end();
  }

  protected onUpEnd(): void {
    this.upEnded = true;
    if (!this.down.destroyed) this.down.end();
  }

  private onDownClose(): void {
    if (this.downClosed) return;
    this.downClosed = true;
    if (!this.upClosed && !(this.downEnded && this.upEnded)) {
      this.aborted = true;
      this.up.destroy();
    }
    this.maybeEnded();
  }

  private onUpClose(): void {
    if (this.upClosed) return;
    this.upClosed = true;
    if (!this.downClosed && !(this.downEnded && this.upEnded)) {
      this.aborted = true;
      this.down.destroy();
    }
    this.maybeEnded();
  }

  private maybeEnded(): void {
    if (this.ended || !this.downClosed || !this.upClosed) return;
    this.ended = true;
    this.owner.relayEnded(this);
  }

  /** Closes both sides now (idle timeout, drain, shutdown). */
  destroy(): void {
    this.aborted = true;
    this.down.destroy();
    this.up.destroy();
  }

  /** Flow-control state in one line, for debug logs. */
  describe(): string {
    return `relay in=${this.bytesIn} out=${this.bytesOut} downEnded=${this.downEnded} upEnded=${this.upEnded} waitingUp=${this.waitingUp} waitingDown=${this.waitingDown}`;
  }
}

function ignore(): void {}
