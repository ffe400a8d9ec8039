// The request side of one upstream connection: writes the head, then the body (if any) from the
// caller's Readable with backpressure and meshlet's own framing (Content-Length or chunked). The
// head of a request with a body waits for its first chunk (one corked write) or its end. A body
// that breaks its framing or fails ends the exchange through the owner.
import { Latin1Writer } from '../../tcp/write-latin1.js';
import type net from 'node:net';
import type { Readable } from 'node:stream';
import { ProxyError, badRequest } from '../../http/errors.js';
import type { Exchange } from './exchange.js';
import { CHUNKED_SUFFIX, lengthSuffix, noBodySuffix } from './request-writer.js';

export interface RequestOwner {
  /** The request cannot be sent (its body failed or broke its framing): the exchange fails with `err`. */
  requestFailed(err: ProxyError): void;
}

export class RequestSender {
  /** the whole request (head and body) has been written */
  done = false;

  private readonly socket: net.Socket;
  /** plaintext writes of whole strings straight to the socket's handle (tcp/write-latin1.ts) */
  private readonly out: Latin1Writer;
  private readonly owner: RequestOwner;
  /** the exchange whose body is being sent (null without a body) */
  private ex: Exchange | null = null;
  private body: Readable | null = null;
  private remaining = 0;
  private chunked = false;
  private headWritten = false;
  private waitingDrain = false;

  constructor(socket: net.Socket, owner: RequestOwner) {
    this.socket = socket;
    this.out = new Latin1Writer(socket);
    this.owner = owner;
    socket.on('drain', this.onDrain);
  }

  /** Starts sending `ex`: its head now unless a body will carry it. False when that failed the exchange. */
  start(ex: Exchange): boolean {
    this.waitingDrain = false;
    const body = ex.body;
    if (body === null || ex.contentLength === 0) {
      this.headWritten = true;
      this.done = true;
      this.out.write(ex.head); // (with its framing: see UpstreamPool.dispatch)
      ex.head = '';
      return true;
    }
    // The head waits for the first body chunk (one corked write) or the end (an empty body).
    this.headWritten = false;
    this.done = false;
    this.ex = ex;
    this.body = body;
    this.chunked = ex.contentLength < 0;
    this.remaining = ex.contentLength;
    if (body.destroyed || body.readableAborted) {
      this.owner.requestFailed(badRequest('request body closed before it was sent'));
      return false;
    }
    body.on('data', this.onBodyData);
    body.on('end', this.onBodyEnd);
    body.on('error', this.onBodyError);
    body.on('close', this.onBodyClose);
    return true;
  }

  /** Flow-control state, for Connection.describe(). */
  describe(): string {
    return `headWritten=${this.headWritten} reqDone=${this.done} bodyRemaining=${this.remaining} waitingDrain=${this.waitingDrain}`;
  }

  /** The exchange is over (or the connection closing): the body, if still attached, is let go. */
  detach(): void {
    const body = this.body;
    if (body === null) return;
    body.removeListener('data', this.onBodyData);
    body.removeListener('end', this.onBodyEnd);
    body.removeListener('error', this.onBodyError);
    body.removeListener('close', this.onBodyClose);
    this.body = null;
    this.ex = null;
    this.waitingDrain = false;
  }

  /** The response came before the body was sent: stop forwarding it (the rest is read and dropped, so the client side can finish). */
  stop(): void {
    const body = this.body;
    if (body === null) return;
    this.detach();
    body.resume();
  }

  // ---- bound once per connection; attached per exchange ----

  private readonly onBodyData = (chunk: Buffer): void => {
    if (this.body === null) return;
    const socket = this.socket;
    socket.cork();
    if (!this.headWritten) {
      const ex = this.ex as Exchange;
      this.headWritten = true;
      socket.write(ex.head + (this.chunked ? CHUNKED_SUFFIX : lengthSuffix(ex.contentLength)), 'latin1');
      ex.head = '';
    }
    let ok: boolean;
    if (this.chunked) {
      if (chunk.length === 0) {
        socket.uncork();
        return;
      }
      socket.write(`${chunk.length.toString(16)}\r\n`, 'latin1');
      socket.write(chunk);
      ok = socket.write('\r\n', 'latin1');
    } else {
      if (chunk.length > this.remaining) {
        socket.uncork();
        this.owner.requestFailed(badRequest('request body longer than its Content-Length'));
        return;
      }
      this.remaining -= chunk.length;
      ok = socket.write(chunk);
    }
    socket.uncork();
    if (!ok) {
      this.waitingDrain = true;
      this.body.pause();
    }
  };

  private readonly onDrain = (): void => {
    if (this.waitingDrain && this.body !== null) {
      this.waitingDrain = false;
      this.body.resume();
    }
  };

  private readonly onBodyEnd = (): void => {
    if (this.body === null) return;
    const ex = this.ex as Exchange;
    this.detach();
    if (!this.headWritten) {
      this.headWritten = true;
      if (ex.contentLength > 0) return this.owner.requestFailed(badRequest('request body shorter than its Content-Length'));
      this.out.write(ex.head + noBodySuffix(ex.method));
      ex.head = '';
    } else if (this.chunked) {
      this.socket.write('0\r\n\r\n', 'latin1');
    } else if (this.remaining !== 0) {
      return this.owner.requestFailed(badRequest('request body shorter than its Content-Length'));
    }
    this.done = true;
  };

  private readonly onBodyError = (err: Error): void => {
    if (this.body === null) return;
    this.owner.requestFailed(err instanceof ProxyError ? err : badRequest(`request body error: ${err.message}`));
  };

  private readonly onBodyClose = (): void => {
    if (this.body === null) return; // 'end' came first
    this.owner.requestFailed(badRequest('request body closed before its end'));
  };
}
