// One request through meshlet's pipeline, whatever protocol brought it: a downstream adapter
// (src/downstream/) hands over the parsed head, the body stream and a ResponseSink, then:
//   1. router (src/routing/router.ts): virtual host → rule → weighted destination (inbound
//      listeners: the local app's cluster);
//   2. filter chain (src/filters/chain.ts), compiled per route / per inbound listener;
//   3. upstream attempt (src/upstream/attempt/): admission, endpoint, tries, retries, bookkeeping;
//   4. response: the attempt's response head and body go to the sink (head + first bytes in one write);
//   5. record (record.ts): stats ring, access log, span — once, when the request ends.
// Every failure on the way is a typed ProxyError, shaped by respond.ts and written exactly once.
// A WebSocket upgrade goes through 1–3 like any request, then gets a connection of its own
// (upstream/tunnel/upgrade.ts); on the upstream's 101 the request ends (recorded with 101) and
// the two connections are relayed (src/websocket/tunnel.ts).
import type { HeaderOpsSpec } from '../config/snapshot.js';
import type { ExchangeHandler, ResponseSink } from '../downstream/exchange.js';
import type { RequestHead } from '../downstream/h1/request-head.js';
import { CONTINUE, WAIT, type FilterChain, type FilterContext } from '../filters/chain.js';
import { sendMirrors } from '../filters/mirror/mirror.js';
import {
  badRequest, downstreamAborted, internalError, noCluster, noRoute, upstreamProtocolError, upstreamTimeout,
  type ProxyError,
} from '../http/errors.js';
import { applyHeaderOps } from '../http/header-ops.js';
import { BAD_HEADER_VALUE, filterResponseHeaders, findHeader } from '../http/headers.js';
import { copyTrailers } from '../http/trailers.js';
import { normalizeRequestTarget } from '../http/path-normalize.js';
import { newRequestId } from '../http/request-id.js';
import { directReply, errorReply, grpcErrorReply, redirectReply } from '../http/respond.js';
import { workerDebugEnabled, workerLog } from '../log.js';
import type { RequestView } from '../routing/request-view.js';
import type { CompiledRoute } from '../routing/route.js';
import { matchRoute, type RouteMatch } from '../routing/router.js';
import { inboundRequest, outboundPeer, responseHead, type TelemetryRequest } from '../telemetry/request.js';
import { FLAG_DC, FLAG_DPE, FLAG_NONE, FLAG_UR } from '../stats/flags.js';
import type { Span } from '../tracing/span.js';
import { UpstreamAttempt, type AttemptOwner } from '../upstream/attempt/attempt.js';
import type { ClusterRuntime } from '../upstream/cluster.js';
import { UpgradeAttempt, type UpgradeOwner } from '../upstream/tunnel/upgrade.js';
import { upstreamSwitched, webSocketRequestProblem } from '../websocket/handshake.js';
import { WsTunnel } from '../websocket/tunnel.js';
import type net from 'node:net';
import type { UpstreamController, UpstreamRequest } from '../upstream/codec.js';
import type { OwnMetadata } from '../telemetry/peer-metadata.js';
import type { JwtAuth } from '../filters/jwt/auth.js';
import type { Generation } from '../worker/generation.js';
import type { ListenerRuntime } from '../worker/worker-state.js';
import { noteBodyBytes } from './body-memory.js';
import type { ClientBody } from './client-body.js';
import { GrpcCall } from './grpc-call.js';
import { requestHashKey, type HashKeySource } from './hash-key.js';
import { recordRequest, type RecordSource } from './record.js';
import { buildUpstreamRequest, type UpstreamSource } from './upstream-request.js';

// Response heads wait for the body's first bytes (or the end) so that head and body leave in one
// write. Heads still pending when the current upstream read has been fully processed are flushed
// by one microtask for all of them (codecs without read-end signals).
const pendingHeads: Exchange[] = [];
let headFlushScheduled = false;
function flushPendingHeads(): void {
  headFlushScheduled = false;
  for (let i = 0; i < pendingHeads.length; i++) (pendingHeads[i] as Exchange).onAttemptReadEnd();
  pendingHeads.length = 0;
}

export class Exchange implements RequestView, RouteMatch, FilterContext, AttemptOwner, UpgradeOwner, ExchangeHandler, UpstreamSource, RecordSource, HashKeySource, TelemetryRequest {
  // the request (RequestView)
  method = '';
  path = '';
  query = '';
  hasQuery = false;
  authority = '';
  scheme = 'http';
  headers: string[] = [];
  readonly listenerPort: number;
  httpVersion = 11;
  requestId = '';
  body: ClientBody | null = null;
  /** the client's Content-Length when it sent one, -1 otherwise (chunked or no body) */
  private contentLength = -1;

  readonly sink: ResponseSink;
  readonly listener: ListenerRuntime;
  readonly gen: Generation;
  /** the mTLS peer's SPIFFE id (an mTLS connection whose certificate has one); null otherwise */
  peerPrincipal: string | null = null;
  /** x-forwarded-client-cert for the local app ('' unless mTLS) */
  peerXfcc = '';
  /** the client address ('' = read from the sink when first needed) */
  private peerIp = '';
  /** this hop's span when tracing is on and the request is sampled (src/tracing/) */
  span: Span | null = null;
  /** Set-Cookie for a consistent-hash cookie meshlet generated for this client */
  setCookie: string | null = null;
  /** a gRPC request (content-type application/grpc*): its status, message counts, deadline; null otherwise */
  grpc: GrpcCall | null = null;
  // telemetry (src/telemetry/request.ts): the far end and the inbound Host as stats ids
  statsPeer = -1;
  statsHost = -1;
  mxReply = false;
  upstreamPrincipal: string | null = null;
  /** the verified JWT (RequestAuthentication), set by the jwt filter */
  auth: JwtAuth | null = null;
  /** the AUDIT AuthorizationPolicy that matched: the request is written to the access log with it */
  auditPolicy: string | null = null;

  // routing (RouteMatch) and the destination
  route: CompiledRoute | null = null;
  matchIdx = 0;
  clusterId = -1;
  destinationRequestOps: HeaderOpsSpec | null = null;
  private destResponseOps: HeaderOpsSpec | null = null;
  private cluster: ClusterRuntime | null = null;
  private chain: FilterChain | null = null;
  /** the filter that returned WAIT: the chain resumes after it */
  private filterAt = 0;

  // upstream
  attempt: UpstreamAttempt | UpgradeAttempt | null = null;
  /** a WebSocket opening handshake the sink can upgrade: forwarded on a connection of its own */
  private upgrade = false;
  private upstreamRequest: UpstreamRequest | null = null;
  private controller: UpstreamController | null = null;
  private routeTimer: NodeJS.Timeout | null = null;
  /** the route's timeout, or the gRPC deadline when that is sooner (ms; 0 = none) */
  private timeoutMs = 0;

  // response
  private aborted = false;
  private finished = false;
  private headersSent = false;
  /** response head received but not yet handed to the sink (see pendingHeads) */
  private headPending = false;
  responseHeaders: string[] | null = null;
  private upstreamStatus = 0;
  private bodyless = false;
  private responseLength = -1;
  /** the client could not take the last chunk: the upstream is paused until it drains */
  private waitingWritable = false;
  bytesSent = 0;

  // the record
  readonly t0 = performance.now();
  private status = 0;
  flags = FLAG_NONE;

  constructor(sink: ResponseSink, listener: ListenerRuntime) {
    this.sink = sink;
    this.listener = listener;
    this.listenerPort = listener.spec.port;
    this.gen = listener.state.gen;
  }

  /** The downstream adapter parsed (and validated) the head: the pipeline starts here. */
  start(head: RequestHead, body: ClientBody | null): void {
    const state = this.listener.state;
    state.inflight++;
    state.lastStart = this.t0;
    this.method = head.method;
    this.path = head.path;
    this.query = head.query;
    this.hasQuery = head.hasQuery;
    this.headers = head.headers;
    this.authority = head.authority;
    this.httpVersion = head.version;
    this.body = body;
    if (body !== null && head.contentLength > 0) this.contentLength = head.contentLength;
    const grpc = GrpcCall.of(head.headers);
    if (grpc !== null) {
      this.grpc = grpc;
      if (body !== null) body.messages = grpc.requestMessages;
    }

    const peer = this.sink.peer;
    if (peer !== null) {
      // an mTLS connection: its peer was read once, at the handshake
      this.peerPrincipal = peer.principal === '' ? null : peer.principal;
      this.peerXfcc = peer.xfcc;
    }
    if (this.authority === '') return this.fail(badRequest('missing Host header'));
    if (this.listener.inbound) inboundRequest(this);
    else this.statsPeer = -2;
    if (head.upgrade !== '' && this.sink.upgrade !== undefined) {
      const problem = webSocketRequestProblem(this.method, this.headers);
      if (problem !== null) return this.fail(problem);
      this.upgrade = true;
    }
    const id = findHeader(this.headers, 'x-request-id');
    this.requestId = id < 0 ? newRequestId() : this.headers[id] as string;
    // routing, authorization and the app all see the normalised path (Istio's pathNormalization)
    if (!normalizeRequestTarget(this, state.pathNormalization)) return this.fail(badRequest('%00 in the request path'));
    // tracing: continue or start the trace; the outgoing trace headers are rewritten in place
    const tracer = state.tracer;
    if (tracer !== null) this.span = tracer.start(this);
    this.routeRequest();
  }

  /** The client's address, read only when something needs it. */
  get sourceIp(): string {
    if (this.peerIp === '') this.peerIp = this.sink.remoteAddress;
    return this.peerIp;
  }

  /** UpstreamSource: this sidecar's metadata headers, for an outbound cluster of mesh endpoints. */
  get peerMetadata(): OwnMetadata | null {
    return !this.listener.inbound && this.cluster !== null && this.cluster.meshed ? this.listener.state.mx.own : null;
  }

  /** x-forwarded-for is appended only when the listener's Sidecar asks for it (Istio's sidecars do not). */
  get forwardedFor(): string | null {
    return this.listener.spec.appendForwardedFor ? this.sourceIp : null;
  }

  get ended(): boolean {
    return this.aborted || this.finished;
  }

  // ---- 1. router ----

  private routeRequest(): void {
    const gen = this.gen;
    if (this.listener.inbound) {
      const cluster = gen.cluster(this.listener.spec.inboundClusterId);
      if (cluster === null) return this.fail(noCluster(`inbound listener ${this.listener.spec.name} has no cluster`));
      this.cluster = cluster;
      this.clusterId = cluster.spec.id;
      this.chain = gen.inboundChain;
      return this.runFilters(0);
    }
    if (!matchRoute(gen.routes, this, this)) return this.fail(noRoute(this.authority, this.path));
    const route = this.route as CompiledRoute;
    const spec = route.spec;
    if (spec.redirect !== null) return this.redirect(spec.redirect);
    if (spec.directResponse !== null) {
      const { status, body } = spec.directResponse;
      this.status = status;
      const reply = directReply(body, this.requestId);
      this.finish();
      this.sink.reply(status, reply.headers, reply.body, this.bodyUnread());
      return;
    }
    const dest = route.pickDestination();
    const cluster = dest.cluster;
    if (cluster === null) return this.fail(noCluster(dest.unresolved));
    this.cluster = cluster;
    this.clusterId = cluster.spec.id;
    const ops = dest.spec.headers;
    if (ops !== null) {
      this.destinationRequestOps = ops.request;
      this.destResponseOps = ops.response;
    }
    this.chain = route.chain;
    this.runFilters(0);
  }

  private redirect(r: NonNullable<CompiledRoute['spec']['redirect']>): void {
    let authority = r.authority ?? this.authority;
    if (r.port !== 0) {
      const colon = authority.lastIndexOf(':');
      authority = `${colon > 0 && !authority.endsWith(']') ? authority.slice(0, colon) : authority}:${r.port}`;
    }
    const path = r.uri ?? this.path;
    const location = `${r.scheme ?? this.scheme}://${authority}${path}${this.query === '' ? '' : `?${this.query}`}`;
    this.status = r.code;
    const reply = redirectReply(location, this.requestId);
    this.finish();
    this.sink.reply(r.code, reply.headers, reply.body, this.bodyUnread());
  }

  // ---- 2. filter chain ----

  private runFilters(from: number): void {
    const chain = this.chain;
    if (chain !== null) {
      for (let i = from; i < chain.length; i++) {
        const status = (chain[i] as FilterChain[number]).onRequest(this);
        if (status === CONTINUE) continue;
        if (status === WAIT) this.filterAt = i + 1;
        return; // STOP: the filter answered; WAIT: it resumes the chain
      }
    }
    this.forward();
  }

  /** FilterContext: a filter that returned WAIT goes on. */
  resumeFilters(): void {
    if (!this.ended) this.runFilters(this.filterAt);
  }

  addFlags(bits: number): void {
    this.flags |= bits;
  }

  // ---- 3. upstream attempt ----

  private forward(): void {
    const cluster = this.cluster as ClusterRuntime;
    const route = this.route;
    let timeoutMs = route === null ? 0 : route.spec.timeoutMs;
    // grpc-timeout bounds the route's timeout: the lower wins (Istio: grpc_timeout_header_max 0)
    const deadline = this.grpc === null ? -1 : this.grpc.timeoutMs;
    if (deadline >= 0 && (timeoutMs === 0 || deadline < timeoutMs)) timeoutMs = Math.max(1, deadline);
    if (timeoutMs > 0) {
      this.timeoutMs = timeoutMs;
      this.routeTimer = setTimeout(onRouteTimeout, timeoutMs, this);
    }
    const state = this.listener.state;
    const request = buildUpstreamRequest(this, route, this.body, this.contentLength);
    this.upstreamRequest = request;
    const hashKey = cluster.hash === null ? -1 : requestHashKey(this, cluster.hash, this.sourceIp);
    if (this.upgrade) {
      const upgrade = new UpgradeAttempt(this, cluster, request, hashKey, state.connectTimeoutMs);
      this.attempt = upgrade;
      return upgrade.start();
    }
    state.retryBudget.noteRequest(this.t0);
    const attempt = new UpstreamAttempt(this, cluster, route === null ? null : route.retry, request, this.body, hashKey, state.retryBudget);
    attempt.grpc = this.grpc !== null;
    this.attempt = attempt;
    if (route !== null && route.mirrors !== null) this.mirror();
    attempt.start();
  }

  /** The route timeout fired: the request gets 504 UT (or its connection closed if the response started). */
  routeTimedOut(): void {
    this.routeTimer = null;
    if (this.ended) return;
    const err = upstreamTimeout(this.timeoutMs);
    this.attempt?.abort(err);
    this.fail(err);
  }

  /** Shadow copies: now when there is no body (or it is already whole), else once it has arrived within the replay buffer. */
  private mirror(): void {
    const body = this.body;
    if (body === null) return sendMirrors((this.route as CompiledRoute).mirrors ?? [], this.upstreamRequest as UpstreamRequest, null, 0);
    body.onComplete = this;
    if (body.replayable) this.bodyComplete();
  }

  /** ClientBody: the whole request body arrived (kept for replay when ≤ 64 KiB; larger bodies are not mirrored). */
  bodyComplete(): void {
    const body = this.body as ClientBody;
    body.onComplete = null;
    const mirrors = this.route?.mirrors ?? null;
    if (mirrors === null || !body.replayable) return;
    sendMirrors(mirrors, this.upstreamRequest as UpstreamRequest, body, body.received);
  }

  // ---- 4. response (AttemptOwner) ----

  onAttemptHeaders(status: number, raw: string[], controller: UpstreamController): void {
    if (this.ended) return;
    this.controller = controller;
    // the codec's array for this response becomes the client's (filtered in place)
    const responseHeaders = raw;
    const length = filterResponseHeaders(responseHeaders, controller.headersValidated);
    if (length === BAD_HEADER_VALUE) {
      const err = upstreamProtocolError('response header with CR, LF or NUL');
      controller.abort(err);
      return this.fail(err);
    }
    const route = this.route;
    if (route !== null && route.spec.responseHeaders !== null) applyHeaderOps(responseHeaders, route.spec.responseHeaders);
    if (this.destResponseOps !== null) applyHeaderOps(responseHeaders, this.destResponseOps);
    if (this.setCookie !== null) responseHeaders.push('set-cookie', this.setCookie);
    responseHead(this, responseHeaders, this.cluster?.meshed === true, controller);
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
    const route = this.route;
    if (route !== null && route.spec.responseHeaders !== null) applyHeaderOps(headers, route.spec.responseHeaders);
    if (this.destResponseOps !== null) applyHeaderOps(headers, this.destResponseOps);
    responseHead(this, headers, this.cluster?.meshed === true, this.attempt as UpgradeAttempt);
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

  // ---- ending ----

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
  private bodyUnread(): boolean {
    return this.body !== null && this.body.readableEnded === false;
  }

  /** ExchangeHandler: the request body's framing broke (or it stopped arriving). */
  onBodyError(err: ProxyError): void {
    if (this.ended) return;
    this.attempt?.abort(err);
    this.body?.destroy(err);
    this.fail(err);
  }

  private closeClient(resetCode = -1): void {
    this.flags |= FLAG_UR;
    this.finish();
    this.sink.reset(resetCode);
  }

  /** ExchangeHandler: the client went away before the response ended. */
  onAborted(): void {
    if (this.finished) return;
    if (workerDebugEnabled()) {
      workerLog().debug({
        method: this.method, path: this.path, upstreamStatus: this.upstreamStatus, bytesSent: this.bytesSent, responseLength: this.responseLength,
        headPending: this.headPending, waitingWritable: this.waitingWritable,
        body: this.body?.describe() ?? null, upstream: this.controller?.describe() ?? null,
      }, 'client connection closed before the response ended');
    }
    this.aborted = true;
    this.flags |= FLAG_DC;
    this.attempt?.abort(downstreamAborted());
    this.body?.destroy(downstreamAborted());
    this.finish();
  }

  /** The status the record carries: 0 when the client left before its response. */
  get recordedStatus(): number {
    return this.aborted ? 0 : this.status;
  }

  /**
   * Exactly once per request, whatever the path: timers, the attempt's bookkeeping, then the record
   * (`endedAt`: performance.now() of the end when the caller has it, 0 to read the clock).
   */
  finish(endedAt = 0): void {
    if (this.finished) return;
    this.finished = true;
    if (this.routeTimer !== null) clearTimeout(this.routeTimer);
    if (this.body !== null) this.body.live = false;
    this.attempt?.release();
    if (this.statsPeer === -2) outboundPeer(this, this.attempt?.endpoint ?? null);
    recordRequest(this, endedAt);
    this.listener.state.requestDone();
  }
}

function onRouteTimeout(ex: Exchange): void {
  ex.routeTimedOut();
}

/** Starts one request; an exception (a bug) becomes a 500 for it, never a crash of the worker. */
export function startRequest(sink: ResponseSink, listener: ListenerRuntime, head: RequestHead, body: ClientBody | null): ExchangeHandler {
  const ex = new Exchange(sink, listener);
  try {
    ex.start(head, body);
  } catch (err) {
    workerLog().error({ err: (err as Error).stack ?? String(err), path: ex.path, authority: ex.authority }, 'internal error handling a request');
    try {
      ex.fail(internalError(err));
    } catch {
      // the sink may be unusable; nothing else can be done without risking an uncaught exception
    }
  }
  return ex;
}
