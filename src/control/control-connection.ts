// One control-socket connection: frames in, requests answered in order, replies out — within the
// server's limits. Every frame is admitted against one byte budget shared by all connections
// before it is buffered, and holds its share until answered; a connection with requests queued
// stops reading; one idle for long is closed. A refused or undecodable frame gets an error reply,
// then the connection is half-closed and closed a moment later, so the reply always arrives
// before the close (closing at once reset the socket under a client still writing, losing it).
import type net from 'node:net';
import type { Logger } from '../log.js';
import { encodeFrame, FrameDecoder, FrameError, type Frame } from './frame.js';

export type Reply = Record<string, unknown> & { ok: boolean };
export type OpHandler = (request: Record<string, unknown>) => Promise<Reply> | Reply;

export class RequestError extends Error {}

export interface ControlLimits {
  /** largest request frame (bytes of msgpack body) */
  maxRequestBytes: number;
  /** largest reply frame: what a client reads (a larger reply becomes an error reply) */
  maxReplyBytes: number;
  /** connections served at once; more get an error reply */
  maxConnections: number;
  /** bytes of frames buffered or being answered, all connections together */
  maxBufferedBytes: number;
  /** a connection without a byte for this long, and nothing to answer, is closed */
  idleTimeoutMs: number;
  /** after an error reply, how long the client's remaining bytes are drained before the close */
  lingerMs: number;
}

/** What a small frame costs the budget at least (its request object and queue entry). */
const MIN_CHARGE = 1024;
/** Requests queued on one connection before it stops reading. */
const MAX_QUEUED = 8;

function charge(bytes: number): number {
  return Math.max(bytes, MIN_CHARGE);
}

/** The byte budget all connections share. */
export class ByteBudget {
  used = 0;
  constructor(readonly max: number) {}
}

/** What a refused connection may still send (read and dropped) before meshlet stops reading it. */
const MAX_DRAIN_BYTES = 1024 * 1024;

/**
 * Sends one error reply and half-closes `socket`, which is closed when the client closes its side
 * or after `lingerMs`. Closing at once would reset a client still writing (EPIPE) before it read
 * the reply. Meanwhile up to MAX_DRAIN_BYTES more are read and dropped, so a client that ends
 * its request is seen closing; past that, reading stops and the rest waits in socket buffers
 * (bounded by the kernel), never in meshlet's memory.
 */
export function refuseConnection(socket: net.Socket, message: string, lingerMs: number): void {
  socket.removeAllListeners('data');
  socket.setTimeout(0);
  let drained = 0;
  socket.on('data', (d: Buffer) => {
    drained += d.length;
    if (drained > MAX_DRAIN_BYTES) socket.pause();
  });
  socket.resume();
  socket.end(encodeFrame({ id: null, ok: false, errors: [message] }));
  const timer = setTimeout(() => socket.destroy(), lingerMs);
  timer.unref();
  socket.once('close', () => clearTimeout(timer));
}

export class ControlConnection {
  private readonly decoder: FrameDecoder;
  /** budget bytes this connection holds (queued requests, the frame being received) */
  private held = 0;
  private queued = 0;
  private chain = Promise.resolve();
  private refused = false;

  constructor(
    private readonly socket: net.Socket,
    private readonly ops: Record<string, OpHandler>,
    private readonly log: Logger,
    private readonly limits: ControlLimits,
    private readonly budget: ByteBudget,
    onDone: () => void,
  ) {
    this.decoder = new FrameDecoder(limits.maxRequestBytes, (bytes) => this.admit(bytes));
    socket.on('error', () => undefined);
    socket.on('data', (data: Buffer) => this.onData(data));
    // (a listener, not setTimeout's callback, which runs once: a timeout while answering is ignored, a later one not)
    socket.setTimeout(limits.idleTimeoutMs);
    socket.on('timeout', () => {
      if (this.queued === 0) socket.destroy();
    });
    socket.once('close', () => {
      onDone();
      // what the connection still holds (a partial frame) is returned once its queued requests are answered
      void this.chain.then(() => this.release(this.held));
    });
  }

  private admit(bytes: number): string | null {
    const cost = charge(bytes);
    if (this.budget.used + cost > this.budget.max) {
      return `control socket busy: ${this.budget.used} bytes of requests are buffered or being answered, and a frame of ${bytes} bytes would pass the ${this.budget.max}-byte limit; retry later`;
    }
    this.budget.used += cost;
    this.held += cost;
    return null;
  }

  private release(cost: number): void {
    this.budget.used -= cost;
    this.held -= cost;
  }

  private onData(data: Buffer): void {
    let frames: Frame[];
    try {
      frames = this.decoder.pushFrames(data);
    } catch (err) {
      this.refused = true;
      refuseConnection(this.socket, err instanceof FrameError ? err.message : 'unreadable frame', this.limits.lingerMs);
      return;
    }
    // requests on one connection are answered in order; reading pauses while too many wait
    for (const frame of frames) {
      this.queued++;
      this.chain = this.chain.then(() => this.answer(frame));
    }
    if (this.queued >= MAX_QUEUED) this.socket.pause();
  }

  private async answer(frame: Frame): Promise<void> {
    const msg = frame.message;
    const id = typeof msg.id === 'number' || typeof msg.id === 'string' ? msg.id : null;
    let reply: Reply;
    try {
      if (id === null) throw new RequestError('request needs an id (number or string)');
      if (typeof msg.op !== 'string') throw new RequestError('request needs an op (string)');
      const handler = Object.hasOwn(this.ops, msg.op) ? this.ops[msg.op] : undefined;
      if (handler === undefined) throw new RequestError(`unknown op "${msg.op}"; ops: ${Object.keys(this.ops).join(', ')}`);
      reply = await handler(msg);
    } catch (err) {
      if (!(err instanceof RequestError)) this.log.error({ op: msg.op, err: (err as Error).message }, 'control op failed');
      reply = { ok: false, errors: [(err as Error).message] };
    }
    this.release(charge(frame.bytes));
    this.queued--;
    if (this.socket.writable && !this.refused) {
      this.socket.write(replyFrame(id, reply, this.limits.maxReplyBytes));
      if (this.queued < MAX_QUEUED && this.socket.isPaused()) this.socket.resume();
    }
  }
}

/** The reply's frame, or an error reply when it would be larger than a client reads (the frame limit). */
function replyFrame(id: number | string | null, reply: Reply, limit: number): Buffer {
  const frame = encodeFrame({ id, ...reply });
  if (frame.length - 4 <= limit) return frame;
  return encodeFrame({ id, ok: false, errors: [`the reply would be ${frame.length - 4} bytes, above the ${limit}-byte frame limit`] });
}
