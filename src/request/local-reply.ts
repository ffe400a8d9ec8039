// The bottom of an exchange (exchange.ts: Exchange, the one concrete class): the sink its
// response goes to, whether that response has ended or started, the status and flags its record
// carries, and the replies meshlet makes itself: a ProxyError's local reply (an HTTP error page,
// or for gRPC a trailers-only 200 with grpc-status; both shaped in src/http/respond.ts), a route's
// direct response or redirect, and the reset of a client whose response had already started.
// Above it: the upstream's response to the sink (response.ts), then the pipeline (exchange.ts),
// which says how the request ends (finish: timers, attempt, record).
import { performance } from 'node:perf_hooks';
import type { DirectResponseSpec, RedirectSpec } from '../config/snapshot.js';
import type { ResponseSink } from '../downstream/exchange.js';
import type { ProxyError } from '../http/errors.js';
import { directReply, errorReply, grpcErrorReply, redirectReply, type Reply } from '../http/respond.js';
import { FLAG_DPE, FLAG_NONE, FLAG_UR } from '../stats/flags.js';
import type { ListenerRuntime } from '../worker/worker-state.js';
import type { ClientBody } from './client-body.js';
import type { GrpcCall } from './grpc-call.js';

export abstract class ExchangeReplies {
  // (set again when a finished exchange is reused for another request: exchange.ts, reuse())
  sink: ResponseSink;
  listener: ListenerRuntime;
  // the response
  protected aborted = false;
  protected finished = false;
  protected headersSent = false;
  /** response head received but not yet handed to the sink (response.ts) */
  protected headPending = false;
  // the record
  protected status = 0;
  flags = FLAG_NONE;

  // the request (exchange.ts)
  abstract readonly scheme: string;
  abstract readonly authority: string;
  abstract readonly path: string;
  abstract readonly query: string;
  abstract readonly requestId: string;
  abstract readonly body: ClientBody | null;
  abstract readonly grpc: GrpcCall | null;
  /**
   * Exactly once per request, whatever the path: timers, the attempt's bookkeeping, then the record
   * (`endedAt`: performance.now() of the end when the caller has it, 0 to read the clock).
   */
  abstract finish(endedAt?: number): void;

  constructor(sink: ResponseSink, listener: ListenerRuntime) {
    this.sink = sink;
    this.listener = listener;
  }

  get ended(): boolean {
    return this.aborted || this.finished;
  }

  /** A route's redirect: the request's URL with the parts the route replaces (Location). */
  protected redirect(r: RedirectSpec): void {
    let authority = r.authority ?? this.authority;
    if (r.port !== 0) {
      const colon = authority.lastIndexOf(':');
      authority = `${colon > 0 && !authority.endsWith(']') ? authority.slice(0, colon) : authority}:${r.port}`;
    }
    const path = r.uri ?? this.path;
    const location = `${r.scheme ?? this.scheme}://${authority}${path}${this.query === '' ? '' : `?${this.query}`}`;
    this.replyLocally(r.code, redirectReply(location, this.requestId));
  }

  /** A route's direct response. */
  protected replyDirect(d: DirectResponseSpec): void {
    this.replyLocally(d.status, directReply(d.body, this.requestId));
  }

  /** A reply meshlet makes for the route: the request ends with it. */
  private replyLocally(status: number, reply: Reply): void {
    this.status = status;
    this.finish();
    this.sink.reply(status, reply.headers, reply.body, this.bodyUnread());
  }

  /** Writes the local reply for `err` (or closes the connection if the response already started). */
  fail(err: ProxyError): void {
    if (this.ended) return;
    if (this.headersSent) return this.closeClient();
    this.headPending = false; // a head not yet written is replaced by the error reply
    this.status = err.status;
    this.flags |= err.flag;
    // a request that cannot be read or trusted (DPE: framing, headers) closes the connection
    // after the reply: what follows on it is not trusted
    const close = this.bodyUnread() || (err.flag & FLAG_DPE) !== 0 || this.listener.state.draining;
    if (this.grpc !== null) {
      // a gRPC client reads a status, not an HTTP error page: 200 with grpc-status (trailers-only)
      const reply = grpcErrorReply(err, this.requestId);
      this.grpc.status = reply.grpcStatus;
      this.status = 200;
      this.finish();
      this.sink.reply(200, reply.headers, reply.body, close);
      return;
    }
    const reply = errorReply(err, this.requestId);
    this.finish();
    this.sink.reply(err.status, reply.headers, reply.body, close);
  }

  /** A request body not read to the end leaves the connection unusable: close it after the reply. */
  protected bodyUnread(): boolean {
    return this.body !== null && this.body.readableEnded === false;
  }

  /** The response already started (or cannot be trusted): the client's connection is reset. */
  protected closeClient(resetCode = -1): void {
    this.flags |= FLAG_UR;
    this.finish();
    this.sink.reset(resetCode);
  }
}
