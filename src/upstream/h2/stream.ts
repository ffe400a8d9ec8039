// One request on an upstream HTTP/2 connection: a ClientHttp2Stream driven for the pipeline.
// The request body is written with backpressure (a full stream buffer pauses the body until
// 'drain'); the response's pause/resume is the stream's, which withholds WINDOW_UPDATE from the
// upstream while the client is slow. Every way the stream can end maps to exactly one
// onUpstreamEnd or onUpstreamError; abort() resets the stream with CANCEL. Listeners are shared
// named functions: the node stream and the body carry their exchange (no closure per request).
import type { ClientHttp2Stream, IncomingHttpHeaders } from 'node:http2';
import { NGHTTP2_CANCEL, NGHTTP2_NO_ERROR, NGHTTP2_REFUSED_STREAM } from '../../http/http2-module.js';
import type { Readable } from 'node:stream';
import {
  ProxyError, badRequest, upstreamConnectionTermination, upstreamResetMidResponse, upstreamStreamReset,
} from '../../http/errors.js';
import type { UpstreamController, UpstreamHandler, UpstreamRequest } from '../codec.js';
import { withoutPseudo } from './headers.js';

const EX = Symbol('meshlet.h2exchange');

/** What the stream reports to the connection that carries it. */
export interface StreamOwner {
  /** the stream is closed: its slot is free */
  streamClosed(ex: H2Exchange): void;
  /** the queued exchange was aborted before it got a stream */
  queuedAborted(ex: H2Exchange): void;
  /** the connection is gone (GOAWAY, error, close), for the error of a stream cut by it */
  readonly goneReason: string | null;
  /** mesh mTLS: the server's verified SPIFFE id; null otherwise */
  readonly peerPrincipal: string | null;
}

type StreamCarrier = ClientHttp2Stream & { [EX]?: H2Exchange };
type BodyCarrier = Readable & { [EX]?: H2Exchange };

/** RST_STREAM error code names (RFC 9113 §7), for logs. */
const CODE_NAMES = [
  'NO_ERROR', 'PROTOCOL_ERROR', 'INTERNAL_ERROR', 'FLOW_CONTROL_ERROR', 'SETTINGS_TIMEOUT', 'STREAM_CLOSED', 'FRAME_SIZE_ERROR',
  'REFUSED_STREAM', 'CANCEL', 'COMPRESSION_ERROR', 'CONNECT_ERROR', 'ENHANCE_YOUR_CALM', 'INADEQUATE_SECURITY', 'HTTP_1_1_REQUIRED',
];

export class H2Exchange implements UpstreamController {
  readonly signalsReadEnd = false;
  /** nghttp2 refuses header names and values HTTP/2 forbids (CR, LF, NUL, uppercase) */
  readonly headersValidated = true;
  /** node:http2 hands out DATA as views of each socket read's own allocation, never reused for a later read */
  readonly chunksOwned = true;
  readonly handler: UpstreamHandler;
  readonly req: UpstreamRequest;
  owner: StreamOwner | null = null;
  stream: ClientHttp2Stream | null = null;
  /** waiting in the pool's queue, and since when (Date.now()) */
  queued = false;
  queuedAt = 0;
  /** ended (end, error or abort): nothing more is reported */
  done = false;
  private paused = false;
  private gotHeaders = false;
  private body: Readable | null = null;
  private bodyWaiting = false;
  private requestDone = false;
  private lastError: Error | null = null;

  constructor(handler: UpstreamHandler, req: UpstreamRequest) {
    this.handler = handler;
    this.req = req;
  }

  /** (UpstreamController) the server's SPIFFE id on a mesh mTLS connection */
  get peerPrincipal(): string | null {
    return this.owner === null ? null : this.owner.peerPrincipal;
  }

  /** The pool opened `stream` for this exchange on `owner`'s connection. */
  attach(owner: StreamOwner, stream: ClientHttp2Stream): void {
    this.owner = owner;
    this.stream = stream;
    this.queued = false;
    (stream as StreamCarrier)[EX] = this;
    stream.on('response', onResponse);
    stream.on('data', onData);
    stream.on('trailers', onTrailers);
    stream.on('end', onEnd);
    stream.on('close', onClose);
    stream.on('error', onError);
    if (this.paused) stream.pause();
    const body = this.req.body;
    if (body === null || this.req.contentLength === 0) {
      this.requestDone = true;
      return;
    }
    if (body.destroyed || body.readableAborted) return this.fail(badRequest('request body closed before it was sent'));
    this.body = body;
    (body as BodyCarrier)[EX] = this;
    stream.on('drain', onStreamDrain);
    body.on('data', onBodyData);
    body.on('end', onBodyEnd);
    body.on('error', onBodyError);
    body.on('close', onBodyClose);
  }

  // ---- UpstreamController ----

  pause(): void {
    this.paused = true;
    this.stream?.pause();
  }

  resume(): void {
    this.paused = false;
    this.stream?.resume();
  }

  abort(_reason: Error): void {
    if (this.done) return;
    this.done = true;
    if (this.queued) {
      this.owner?.queuedAborted(this); // (the pool takes it off its queue)
      this.queued = false;
      return;
    }
    this.detachBody();
    const stream = this.stream;
    if (stream !== null && !stream.destroyed) stream.close(NGHTTP2_CANCEL);
  }

  describe(): string {
    const s = this.stream;
    return `h2 stream id=${s?.id ?? '-'} queued=${this.queued} paused=${this.paused} gotHeaders=${this.gotHeaders} requestDone=${this.requestDone} ` +
      `bodyWaiting=${this.bodyWaiting} buffered=${s?.writableLength ?? 0} state=${s === null ? '-' : JSON.stringify(s.state)}`;
  }

  // ---- response ----

  /** @internal */
  onResponse(headers: IncomingHttpHeaders, raw: string[]): void {
    if (this.done) return;
    this.gotHeaders = true;
    const status = Number(headers[':status']);
    this.handler.onUpstreamHeaders(status, withoutPseudo(raw));
  }

  /** @internal */
  onData(chunk: Buffer): void {
    if (!this.done) this.handler.onUpstreamData(chunk);
  }

  /** @internal */
  onTrailers(raw: string[]): void {
    if (!this.done) this.handler.onUpstreamTrailers?.(withoutPseudo(raw));
  }

  /** @internal the response ended (END_STREAM) — or the stream was reset: Node ends the readable side then too */
  onEnd(): void {
    if (this.done || !this.gotHeaders) return; // (no headers: 'close' reports the reset)
    const rst = (this.stream as ClientHttp2Stream).rstCode;
    if (rst !== undefined && rst !== NGHTTP2_NO_ERROR) return; // a reset, not an end: 'close' reports it
    this.done = true;
    if (!this.requestDone) {
      // answered before the request body was sent: stop sending it
      this.detachBody();
      const stream = this.stream as ClientHttp2Stream;
      if (!stream.destroyed) stream.close(NGHTTP2_CANCEL);
    }
    this.handler.onUpstreamEnd();
  }

  /** @internal the stream is closed: its slot goes back; a response not ended was cut short */
  onClose(): void {
    const stream = this.stream as ClientHttp2Stream;
    this.owner?.streamClosed(this);
    this.detachBody();
    if (this.done) return;
    this.done = true;
    const code = stream.rstCode ?? NGHTTP2_NO_ERROR;
    const name = CODE_NAMES[code] ?? `error ${code}`;
    const gone = this.owner?.goneReason ?? null;
    const detail = gone !== null ? gone : `RST_STREAM ${name}${this.lastError === null ? '' : `: ${this.lastError.message}`}`;
    let err: ProxyError;
    if (this.gotHeaders) err = upstreamResetMidResponse(detail, gone === null && code !== NGHTTP2_NO_ERROR ? code : -1);
    else if (code === NGHTTP2_REFUSED_STREAM) err = upstreamStreamReset(true, detail);
    else if (gone !== null) err = upstreamConnectionTermination(detail, false);
    else err = upstreamStreamReset(false, detail);
    this.handler.onUpstreamError(err);
  }

  /** @internal */
  onError(err: Error): void {
    this.lastError = err;
  }

  // ---- request body ----

  /** @internal */
  onBodyData(chunk: Buffer): void {
    const stream = this.stream as ClientHttp2Stream;
    if (stream.destroyed) return;
    if (!stream.write(chunk)) {
      this.bodyWaiting = true;
      (this.body as Readable).pause();
    }
  }

  /** @internal */
  onStreamDrain(): void {
    if (!this.bodyWaiting || this.body === null) return;
    this.bodyWaiting = false;
    this.body.resume();
  }

  /** @internal */
  onBodyEnd(): void {
    this.detachBody();
    this.requestDone = true;
    const stream = this.stream as ClientHttp2Stream;
    if (!stream.destroyed) stream.end();
  }

  /** @internal the body failed or closed before its end */
  onBodyFailed(err: Error | null): void {
    if (this.body === null) return; // 'end' came first
    this.fail(err instanceof ProxyError ? err : badRequest(err === null ? 'request body closed before its end' : `request body error: ${err.message}`));
  }

  private fail(err: ProxyError): void {
    if (this.done) return;
    this.done = true;
    this.detachBody();
    const stream = this.stream;
    if (stream !== null && !stream.destroyed) stream.close(NGHTTP2_CANCEL);
    this.handler.onUpstreamError(err);
  }

  private detachBody(): void {
    const body = this.body;
    if (body === null) return;
    this.body = null;
    this.bodyWaiting = false;
    (body as BodyCarrier)[EX] = undefined;
    body.removeListener('data', onBodyData);
    body.removeListener('end', onBodyEnd);
    body.removeListener('error', onBodyError);
    body.removeListener('close', onBodyClose);
    this.stream?.removeListener('drain', onStreamDrain);
  }
}

function ex(s: ClientHttp2Stream): H2Exchange | undefined {
  return (s as StreamCarrier)[EX];
}

function bodyEx(b: Readable): H2Exchange | undefined {
  return (b as BodyCarrier)[EX];
}

function onResponse(this: ClientHttp2Stream, headers: IncomingHttpHeaders, _flags: number, raw: string[]): void {
  ex(this)?.onResponse(headers, raw);
}

function onData(this: ClientHttp2Stream, chunk: Buffer): void {
  ex(this)?.onData(chunk);
}

function onTrailers(this: ClientHttp2Stream, _headers: IncomingHttpHeaders, _flags: number, raw: string[]): void {
  ex(this)?.onTrailers(raw);
}

function onEnd(this: ClientHttp2Stream): void {
  ex(this)?.onEnd();
}

function onClose(this: ClientHttp2Stream): void {
  const e = ex(this);
  (this as StreamCarrier)[EX] = undefined;
  e?.onClose();
}

function onError(this: ClientHttp2Stream, err: Error): void {
  ex(this)?.onError(err);
}

function onStreamDrain(this: ClientHttp2Stream): void {
  ex(this)?.onStreamDrain();
}

function onBodyData(this: Readable, chunk: Buffer): void {
  bodyEx(this)?.onBodyData(chunk);
}

function onBodyEnd(this: Readable): void {
  bodyEx(this)?.onBodyEnd();
}

function onBodyError(this: Readable, err: Error): void {
  bodyEx(this)?.onBodyFailed(err);
}

function onBodyClose(this: Readable): void {
  bodyEx(this)?.onBodyFailed(null);
}
