// The upstream's response to the downstream sink (AttemptOwner, UpgradeOwner): its head filtered
// and shaped (the pipeline's header operations: shapeResponseHead), held until the body's first
// bytes so that head and body leave in one write, the body with the client's back-pressure pausing
// the upstream, trailers, the end (an upstream that stops short of its Content-Length resets the
// client), an upstream failure (a local reply before the head, a reset after), and a WebSocket
// upgrade's 101, after which the tunnel relays both connections. Below it: local replies and the
// response's end state (local-reply.ts); above it: the pipeline (exchange.ts).
import type net from 'node:net';
import type { ResponseSink } from '../downstream/exchange.js';
import { upstreamProtocolError, type ProxyError } from '../http/errors.js';
import { BAD_HEADER_VALUE, filterResponseHeaders } from '../http/headers.js';
import { copyTrailers } from '../http/trailers.js';
import type { UpstreamAttempt } from '../upstream/attempt/attempt.js';
import type { ClusterRuntime } from '../upstream/cluster.js';
import type { UpstreamController } from '../upstream/codec.js';
import type { UpgradeAttempt } from '../upstream/tunnel/upgrade.js';
import { upstreamSwitched } from '../websocket/handshake.js';
import { WsTunnel } from '../websocket/tunnel.js';
import type { Generation } from '../worker/generation.js';
import { noteBodyBytes } from './body-memory.js';
import { ExchangeReplies } from './local-reply.js';

// Response heads wait for the body's first bytes (or the end) so that head and body leave in one
// write. Heads still pending when the current upstream read has been fully processed are flushed
// by one microtask for all of them (codecs without read-end signals).
const pendingHeads: ExchangeResponse[] = [];
let headFlushScheduled = false;
function flushPendingHeads(): void {
  headFlushScheduled = false;
  for (let i = 0; i < pendingHeads.length; i++) (pendingHeads[i] as ExchangeResponse).onAttemptReadEnd();
  pendingHeads.length = 0;
}

export abstract class ExchangeResponse extends ExchangeReplies {
  protected controller: UpstreamController | null = null;
  responseHeaders: string[] | null = null;
  protected upstreamStatus = 0;
  protected bodyless = false;
  protected responseLength = -1;
  /** the client could not take the last chunk: the upstream is paused until it drains */
  protected waitingWritable = false;
  bytesSent = 0;

  // the request and its upstream (exchange.ts)
  abstract readonly method: string;
  abstract readonly gen: Generation;
  protected abstract readonly cluster: ClusterRuntime | null;
  abstract readonly statsPeer: number;
  abstract readonly attempt: UpstreamAttempt | UpgradeAttempt | null;
  /** The route's and destination's response header operations (and this hop's Set-Cookie when `withCookie`), then telemetry's headers. */
  protected abstract shapeResponseHead(headers: string[], controller: UpstreamController, withCookie: boolean): void;
  abstract onAborted(): void;

  onAttemptHeaders(status: number, raw: string[], controller: UpstreamController): void {
    if (this.ended) return;
    this.controller = controller;
    // the codec's array for this response becomes the client's (filtered in place)
    const responseHeaders = raw;
    const filtered = controller.filteredLength;
    const length = filtered === undefined ? filterResponseHeaders(responseHeaders, controller.headersValidated) : filtered;
    if (length === BAD_HEADER_VALUE) {
      const err = upstreamProtocolError('response header with CR, LF or NUL');
      controller.abort(err);
      return this.fail(err);
    }
    this.shapeResponseHead(responseHeaders, controller, true);
    this.responseLength = length;
    this.upstreamStatus = status;
    if (this.grpc !== null) this.grpc.noteStatus(responseHeaders);
    this.bodyless = this.method === 'HEAD' || status === 204 || status === 304;
    this.responseHeaders = responseHeaders;
    this.headPending = true;
    // the h1 codec says when the read that carried this head has been delivered (onAttemptReadEnd)
    if (controller.signalsReadEnd) return;
    pendingHeads.push(this);
    if (!headFlushScheduled) {
      headFlushScheduled = true;
      queueMicrotask(flushPendingHeads);
    }
  }

  /**
   * UpgradeOwner: the upstream switched to WebSocket. The 101 (its headers with the route's
   * response header operations) goes to the client, the request ends here (recorded with 101),
   * and the tunnel relays both connections from now on, with the endpoint and admission unit.
   */
  onAttemptUpgraded(raw: string[], socket: net.Socket, rest: Buffer | null): void {
    if (this.ended) {
      socket.destroy();
      return;
    }
    if (!upstreamSwitched(raw)) {
      socket.destroy();
      return this.fail(upstreamProtocolError('101 without Upgrade: websocket and Connection: upgrade'));
    }
    const headers = raw; // (the parser's array for this response: filtered in place, as the codec's responses are)
    filterResponseHeaders(headers, true);
    this.shapeResponseHead(headers, this.attempt as UpgradeAttempt, false);
    const client = (this.sink.upgrade as NonNullable<ResponseSink['upgrade']>).call(this.sink, headers);
    if (client === null) {
      socket.destroy();
      return this.onAborted();
    }
    const held = (this.attempt as UpgradeAttempt).handOff();
    this.status = 101;
    this.headersSent = true;
    this.responseHeaders = headers;
    this.finish(); // (the record: 101, and the request's stats peer)
    new WsTunnel(this.listener, this.gen, this.cluster as ClusterRuntime, held, client, socket, rest, this.statsPeer).start();
  }

  /** The read that carried the head had no body bytes for it (or not all of them): the head leaves now. */
  onAttemptReadEnd(): void {
    if (!this.headPending || this.ended) return;
    this.writeHead();
    this.sink.flush();
  }

  /** Status and headers to the sink, once; before the first body bytes or the end (the sink sends them together). */
  private writeHead(): void {
    if (!this.headPending) return;
    this.headPending = false;
    this.status = this.upstreamStatus;
    this.sink.head(this.upstreamStatus, this.responseHeaders as string[], this.responseLength, this.bodyless);
    this.headersSent = true;
  }

  onAttemptData(chunk: Buffer): void {
    if (this.ended || this.bodyless) return;
    this.writeHead();
    this.bytesSent += chunk.length;
    noteBodyBytes(chunk.length);
    if (this.grpc !== null) this.grpc.responseMessages.feed(chunk);
    if (!this.sink.data(chunk, (this.controller as UpstreamController).chunksOwned === true)) {
      // the client is slow: the upstream waits until it has taken what it was given
      this.waitingWritable = true;
      (this.controller as UpstreamController).pause();
    }
  }

  /** ExchangeHandler: the client took what it was given. */
  onWritable(): void {
    if (!this.waitingWritable || this.ended) return;
    this.waitingWritable = false;
    (this.controller as UpstreamController).resume();
  }

  onAttemptTrailers(raw: string[]): void {
    if (this.ended) return;
    const trailers = copyTrailers(raw, (this.controller as UpstreamController).headersValidated);
    if (trailers === null) {
      const err = upstreamProtocolError('response trailer with CR, LF or NUL');
      this.attempt?.abort(err);
      return this.onAttemptError(err);
    }
    if (this.grpc !== null) this.grpc.noteStatus(trailers);
    this.writeHead();
    this.sink.trailers(trailers);
  }

  onAttemptEnd(): void {
    if (this.ended) return;
    // an upstream that ended before its Content-Length: the client must not take it as complete
    if (this.responseLength >= 0 && !this.bodyless && this.bytesSent < this.responseLength) return this.closeClient();
    this.writeHead();
    // (the request ends with its upstream response: the record takes the attempt's end time, read just now)
    this.finish(this.attempt === null ? 0 : this.attempt.tEnd);
    this.sink.end();
  }

  onAttemptError(err: ProxyError): void {
    if (this.ended) return;
    if (this.headersSent) return this.closeClient(err.resetCode);
    this.fail(err);
  }
}
