// One HTTP/2 request stream as the pipeline sees it: a ResponseSink over node:http2's
// ServerHttp2Stream and the BodyFlow of its request body. Flow control is the stream's: a paused
// body stops the stream's reads, so nghttp2 stops granting the client window (WINDOW_UPDATE) and
// the client stops sending; a response chunk the client has no window for stays in the stream's
// writable buffer, write() says false and the upstream waits for 'drain'. Event listeners are
// shared named functions (`this` is the node stream, which carries its H2Stream): no closure per stream.
import type { OutgoingHttpHeaders, ServerHttp2Stream } from 'node:http2';
import { NGHTTP2_INTERNAL_ERROR, NGHTTP2_NO_ERROR } from '../../http/http2-module.js';
import { workerLog } from '../../log.js';
import type { PeerIdentity } from '../../tls/inbound/server-tls.js';
import { noteBodyBytes } from '../../request/body-memory.js';
import type { BodyFlow, ClientBody } from '../../request/client-body.js';
import type { ExchangeHandler, ResponseSink } from '../exchange.js';

const EMPTY = Buffer.alloc(0);
const SINK = Symbol('meshlet.h2stream');

/** What a stream knows of its connection. */
export interface H2SessionInfo {
  readonly remoteAddress: string;
  /** the verified mTLS peer of the connection; null for plaintext */
  readonly peer: PeerIdentity | null;
  /** streams open on the connection (an idle timeout only closes a connection without any) */
  streams: number;
}

type Carrier = ServerHttp2Stream & { [SINK]: H2Stream };

export class H2Stream implements ResponseSink, BodyFlow {
  readonly stream: ServerHttp2Stream;
  private readonly session: H2SessionInfo;
  handler: ExchangeHandler | null = null;
  body: ClientBody | null = null;
  /** the client said `te: trailers` (gRPC does): responses leave room for trailers */
  trailersAccepted = false;
  /** a HEAD request: replies carry no body */
  isHead = false;
  private pendingHead: OutgoingHttpHeaders | null = null;
  private pendingEnd = false;
  private bodyless = false;
  private trailerBlock: OutgoingHttpHeaders | null = null;
  private responded = false;
  private done = false;
  private bodyEnded = false;
  /** a 'drain' listener is armed (once per full buffer, however many writes said false meanwhile) */
  private drainArmed = false;

  constructor(stream: ServerHttp2Stream, session: H2SessionInfo) {
    this.stream = stream;
    this.session = session;
    (stream as Carrier)[SINK] = this;
    stream.on('close', onStreamClose);
    stream.on('error', ignore);
  }

  get remoteAddress(): string {
    return this.session.remoteAddress;
  }

  get peer(): PeerIdentity | null {
    return this.session.peer;
  }

  /** The request has a body: it flows into `body` (after the exchange started). */
  readBody(body: ClientBody): void {
    this.body = body;
    this.stream.on('data', onStreamData);
    this.stream.on('end', onStreamEnd);
  }

  /** No body (END_STREAM on the headers): the readable side is read to its end so the stream can close. */
  noBody(): void {
    this.bodyEnded = true;
    this.stream.resume();
  }

  // ---- ResponseSink ----

  head(status: number, headers: string[], contentLength: number, bodyless: boolean): void {
    const h: OutgoingHttpHeaders = { ':status': status };
    for (let i = 0; i < headers.length; i += 2) addHeader(h, headers[i] as string, headers[i + 1] as string);
    if (contentLength >= 0 && status !== 204 && status !== 304) h['content-length'] = contentLength;
    // the response may end with trailers: gRPC responses, or a client that accepts them
    if (!this.trailersAccepted && isGrpcType(h['content-type'])) this.trailersAccepted = true;
    this.pendingHead = h;
    this.bodyless = bodyless;
  }

  flush(): void {
    if (this.pendingHead !== null) this.respond(false);
  }

  data(chunk: Buffer, owned = false): boolean {
    if (this.pendingHead !== null) this.respond(false);
    const stream = this.stream;
    if (stream.destroyed || this.bodyless) return true;
    // a view of a reused read buffer (the HTTP/1.1 codec's) is copied: the stream keeps it until it is sent
    if (stream.write(owned ? chunk : Buffer.from(chunk))) return true;
    // only then: most responses never need a 'drain' listener
    if (!this.drainArmed) {
      this.drainArmed = true;
      stream.once('drain', onStreamDrain);
    }
    return false;
  }

  trailers(headers: string[]): void {
    if (headers.length === 0) return;
    const t: OutgoingHttpHeaders = {};
    for (let i = 0; i < headers.length; i += 2) addHeader(t, headers[i] as string, headers[i + 1] as string);
    this.trailerBlock = t;
  }

  end(): void {
    this.done = true;
    if (this.stream.destroyed) return;
    if (this.pendingHead !== null) {
      if (this.trailerBlock === null || this.bodyless) {
        // nothing follows the head: one HEADERS frame ends the stream
        this.respond(true);
        this.closeUnreadBody();
        return;
      }
      this.respond(false);
    }
    if (!this.responded) return;
    if (this.trailerBlock !== null && !this.trailersAccepted) {
      // trailers the client did not ask for and no room was left for: dropped (RFC 9110 §6.5.1)
      this.trailerBlock = null;
    }
    this.pendingEnd = true;
    this.stream.end();
    this.closeUnreadBody();
  }

  reply(status: number, headers: string[], body: string, _close: boolean): void {
    this.done = true;
    const stream = this.stream;
    if (stream.destroyed || this.responded) return;
    const h: OutgoingHttpHeaders = { ':status': status };
    for (let i = 0; i < headers.length; i += 2) addHeader(h, headers[i] as string, headers[i + 1] as string);
    const head = this.isHead;
    if (status !== 204 && status !== 304) h['content-length'] = body.length;
    this.responded = true;
    try {
      if (body === '' || head) stream.respond(h, { endStream: true });
      else {
        stream.respond(h);
        stream.end(Buffer.from(body, 'latin1'));
      }
    } catch (err) {
      workerLog().debug({ err: (err as Error).message }, 'HTTP/2 reply not sent');
      stream.close(NGHTTP2_INTERNAL_ERROR);
      return;
    }
    this.closeUnreadBody();
  }

  reset(code = -1): void {
    this.done = true;
    this.handler = null;
    if (!this.stream.destroyed) this.stream.close(code >= 0 ? code : NGHTTP2_INTERNAL_ERROR);
  }

  pauseBody(): void {
    this.stream.pause();
  }

  resumeBody(): void {
    this.stream.resume();
  }

  // ---- internals ----

  private respond(endStream: boolean): void {
    const h = this.pendingHead as OutgoingHttpHeaders;
    this.pendingHead = null;
    this.responded = true;
    const stream = this.stream;
    if (stream.destroyed) return;
    const waitForTrailers = !endStream && !this.bodyless && this.trailersAccepted;
    try {
      stream.respond(h, { endStream, waitForTrailers });
    } catch (err) {
      // a header Node refuses (a connection-specific one an upstream sent): the stream is reset
      workerLog().debug({ err: (err as Error).message }, 'HTTP/2 response head refused');
      stream.close(NGHTTP2_INTERNAL_ERROR);
      return;
    }
    if (waitForTrailers) stream.on('wantTrailers', onWantTrailers);
  }

  /** @internal the last DATA is queued: the trailers (or an empty DATA with END_STREAM) close the stream */
  sendTrailers(): void {
    const t = this.trailerBlock ?? {};
    this.trailerBlock = null;
    try {
      this.stream.sendTrailers(t);
    } catch (err) {
      workerLog().debug({ err: (err as Error).message }, 'HTTP/2 trailers refused');
      this.stream.close(NGHTTP2_INTERNAL_ERROR);
    }
  }

  /**
   * Answered before the request body arrived whole: RST_STREAM(NO_ERROR) once the response is
   * out tells the client to stop sending (RFC 9113 §8.1) instead of reading the rest to drop it.
   */
  private closeUnreadBody(): void {
    if (!this.bodyEnded && !this.stream.destroyed) this.stream.close(NGHTTP2_NO_ERROR);
  }

  /** @internal */
  onData(chunk: Buffer): void {
    noteBodyBytes(chunk.length);
    this.body?.accept(chunk, false);
  }

  /** @internal END_STREAM — or a reset: Node ends the readable side then too, and a cut body must not pass as whole */
  onEnd(): void {
    const rst = this.stream.rstCode;
    if (rst !== undefined && rst !== NGHTTP2_NO_ERROR) return; // 'close' tells the exchange
    this.bodyEnded = true;
    this.body?.accept(EMPTY, true);
  }

  /** @internal the stream is gone: a response not ended by then was cut short (client RST_STREAM, GOAWAY, connection lost) */
  onClose(): void {
    this.session.streams--;
    const handler = this.handler;
    this.handler = null;
    if (!this.done && handler !== null) {
      this.done = true;
      handler.onAborted();
    }
    (this.stream as Partial<Carrier>)[SINK] = undefined;
  }

  /** @internal */
  onDrain(): void {
    this.drainArmed = false;
    this.handler?.onWritable();
  }

  /** For a test or the debug log: whether end() was called and the stream is waiting to finish. */
  get ending(): boolean {
    return this.pendingEnd;
  }
}

function addHeader(h: OutgoingHttpHeaders, name: string, value: string): void {
  const prev = h[name];
  if (prev === undefined) h[name] = value;
  else if (Array.isArray(prev)) prev.push(value);
  else h[name] = [String(prev), value];
}

function isGrpcType(v: OutgoingHttpHeaders[string]): boolean {
  return typeof v === 'string' && v.startsWith('application/grpc');
}

function sinkOf(s: ServerHttp2Stream): H2Stream | undefined {
  return (s as Partial<Carrier>)[SINK];
}

function onStreamData(this: ServerHttp2Stream, chunk: Buffer): void {
  sinkOf(this)?.onData(chunk);
}

function onStreamEnd(this: ServerHttp2Stream): void {
  sinkOf(this)?.onEnd();
}

function onStreamClose(this: ServerHttp2Stream): void {
  sinkOf(this)?.onClose();
}

function onStreamDrain(this: ServerHttp2Stream): void {
  sinkOf(this)?.onDrain();
}

function onWantTrailers(this: ServerHttp2Stream): void {
  sinkOf(this)?.sendTrailers();
}

function ignore(): void {}
