// One request through meshlet's pipeline, whatever protocol brought it: a downstream adapter
// (src/downstream/) hands over the parsed head, the body stream and a ResponseSink, then:
//   1. router (src/routing/router.ts): virtual host → rule → weighted destination (inbound
//      listeners: the local app's cluster);
//   2. filter chain (src/filters/chain.ts), compiled per route / per inbound listener;
//   3. upstream attempt (src/upstream/attempt/): admission, endpoint, tries, retries, bookkeeping;
//   4. response (response.ts): the attempt's response head and body go to the sink (head + first
//      bytes in one write);
//   5. record (record.ts): stats ring, access log, span — once, when the request ends (finish).
// Every failure on the way is a typed ProxyError, shaped by respond.ts and written exactly once
// (local-reply.ts, with the route's redirects and direct responses). Exchange, the one concrete
// class, owns the request's state and the sequence; the layers below it (response.ts above
// local-reply.ts) write to the sink.
// A WebSocket upgrade goes through 1–3 like any request, then gets a connection of its own
// (upstream/tunnel/upgrade.ts); on the upstream's 101 the request ends (recorded with 101) and
// the two connections are relayed (src/websocket/tunnel.ts).
import type { HeaderOpsSpec } from '../config/snapshot.js';
import type { ExchangeHandler, ResponseSink } from '../downstream/exchange.js';
import type { RequestHead } from '../downstream/h1/request-head.js';
import { CONTINUE, WAIT, type FilterChain, type FilterContext } from '../filters/chain.js';
import { sendMirrors } from '../filters/mirror/mirror.js';
import {
  badRequest, downstreamAborted, internalError, noCluster, noRoute, upstreamTimeout, type ProxyError,
} from '../http/errors.js';
import { applyHeaderOps } from '../http/header-ops.js';
import { findHeader } from '../http/headers.js';
import { normalizeRequestTarget } from '../http/path-normalize.js';
import { newRequestId } from '../http/request-id.js';
import { workerDebugEnabled, workerLog } from '../log.js';
import type { RequestView } from '../routing/request-view.js';
import type { CompiledRoute } from '../routing/route.js';
import { matchRoute, type RouteMatch } from '../routing/router.js';
import { inboundRequest, outboundPeer, responseHead, type TelemetryRequest } from '../telemetry/request.js';
import { FLAG_DC, FLAG_NONE } from '../stats/flags.js';
import type { Span } from '../tracing/span.js';
import { UpstreamAttempt, takeAttempt, type AttemptOwner } from '../upstream/attempt/attempt.js';
import type { ClusterRuntime } from '../upstream/cluster.js';
import { UpgradeAttempt, type UpgradeOwner } from '../upstream/tunnel/upgrade.js';
import { webSocketRequestProblem } from '../websocket/handshake.js';
import type { UpstreamController, UpstreamRequest } from '../upstream/codec.js';
import type { OwnMetadata } from '../telemetry/peer-metadata.js';
import type { JwtAuth } from '../filters/jwt/auth.js';
import type { Generation } from '../worker/generation.js';
import type { ListenerRuntime } from '../worker/worker-state.js';
import type { ClientBody } from './client-body.js';
import { GrpcCall } from './grpc-call.js';
import { requestHashKey, type HashKeySource } from './hash-key.js';
import { now, readTimeMoved } from '../tcp/read-time.js';
import { recordRequest, type RecordSource } from './record.js';
import { ExchangeResponse } from './response.js';
import { buildUpstreamRequest, type UpstreamSource } from './upstream-request.js';

export class Exchange extends ExchangeResponse implements RequestView, RouteMatch, FilterContext, AttemptOwner, UpgradeOwner, ExchangeHandler, UpstreamSource, RecordSource, HashKeySource, TelemetryRequest {
  // the request (RequestView)
  method = '';
  path = '';
  query = '';
  hasQuery = false;
  authority = '';
  scheme = 'http';
  headers: string[] = NO_HEADERS;
  listenerPort: number;
  httpVersion = 11;
  requestId = '';
  body: ClientBody | null = null;
  /** the client's Content-Length when it sent one, -1 otherwise (chunked or no body) */
  private contentLength = -1;

  gen: Generation;
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
  protected cluster: ClusterRuntime | null = null;
  private chain: FilterChain | null = null;
  /** the filter that returned WAIT: the chain resumes after it */
  private filterAt = 0;

  // upstream
  attempt: UpstreamAttempt | UpgradeAttempt | null = null;
  /** a WebSocket opening handshake the sink can upgrade: forwarded on a connection of its own */
  private upgrade = false;
  private upstreamRequest: UpstreamRequest | null = null;
  private routeTimer: NodeJS.Timeout | null = null;
  /** the route's timeout, or the gRPC deadline when that is sooner (ms; 0 = none) */
  private timeoutMs = 0;

  // the record (status and flags: local-reply.ts)
  t0 = now();

  // reuse (startRequest): a finished exchange the adapter let go of serves the next request
  /** something may still call this exchange later (see reusable()) */
  private pinned = false;
  /** in the worker's pool: retired() once only */
  private pooled = false;

  constructor(sink: ResponseSink, listener: ListenerRuntime) {
    super(sink, listener);
    this.listenerPort = listener.spec.port;
    this.gen = listener.state.gen;
  }

  /**
   * A pooled exchange becomes a new one, as the constructor leaves it: every field (a test checks
   * that none is missed). Until this runs it stays finished, so a late call that reaches it in
   * the stack that retired it is still ignored.
   */
  reuse(sink: ResponseSink, listener: ListenerRuntime): void {
    // ExchangeReplies
    this.sink = sink;
    this.listener = listener;
    this.aborted = false;
    this.finished = false;
    this.headersSent = false;
    this.headPending = false;
    this.status = 0;
    this.flags = FLAG_NONE;
    // ExchangeResponse
    this.controller = null;
    this.responseHeaders = null;
    this.upstreamStatus = 0;
    this.bodyless = false;
    this.responseLength = -1;
    this.waitingWritable = false;
    this.bytesSent = 0;
    // Exchange
    this.method = '';
    this.path = '';
    this.query = '';
    this.hasQuery = false;
    this.authority = '';
    this.scheme = 'http';
    this.headers = NO_HEADERS;
    this.listenerPort = listener.spec.port;
    this.httpVersion = 11;
    this.requestId = '';
    this.body = null;
    this.contentLength = -1;
    this.gen = listener.state.gen;
    this.peerPrincipal = null;
    this.peerXfcc = '';
    this.peerIp = '';
    this.span = null;
    this.setCookie = null;
    this.grpc = null;
    this.statsPeer = -1;
    this.statsHost = -1;
    this.mxReply = false;
    this.upstreamPrincipal = null;
    this.auth = null;
    this.auditPolicy = null;
    this.route = null;
    this.matchIdx = 0;
    this.clusterId = -1;
    this.destinationRequestOps = null;
    this.destResponseOps = null;
    this.cluster = null;
    this.chain = null;
    this.filterAt = 0;
    this.attempt = null;
    this.upgrade = false;
    this.upstreamRequest = null;
    this.routeTimer = null;
    this.timeoutMs = 0;
    this.t0 = now();
    this.pinned = false;
    this.pooled = false;
  }

  /**
   * ExchangeHandler: the adapter will not call this exchange again. A request that finished on the
   * plain path goes to the worker's pool; one that anything else may still call is left to the GC:
   * a filter that waited (its timer or fetch), a mirror (the body's completion), a WebSocket
   * upgrade, a head flushed by microtask (codecs without read-end signals), a bug's 500. (The
   * attempt was released in finish(): it calls nothing after that; the route timer was cleared.)
   */
  retired(): void {
    if (!this.finished || this.pooled || !this.reusable()) return;
    this.pooled = true;
    // its attempt too (with the upstream request built into it), when nothing can call it any more
    if (this.attempt instanceof UpstreamAttempt) this.attempt.retire();
    this.park();
    if (POOL.length < POOL_SIZE) POOL.push(this);
  }

  /**
   * While pooled, the exchange holds nothing of its request (a pooled one may wait long for its
   * next: its connection, body, generation, headers stay collectable) and nothing another request
   * may use (the attempt and the codec's controller go to their own pools). It stays finished, so
   * whatever still reaches it returns at its `ended` check before touching any of these.
   */
  private park(): void {
    const self = this as unknown as Record<'sink' | 'listener' | 'gen', null>;
    self.sink = null;
    self.listener = null;
    self.gen = null;
    this.controller = null;
    this.attempt = null;
    this.upstreamRequest = null;
    this.body = null;
    this.headers = NO_HEADERS;
    this.responseHeaders = null;
    this.span = null;
    this.grpc = null;
    this.auth = null;
    this.route = null;
    this.cluster = null;
    this.chain = null;
    this.destinationRequestOps = null;
    this.destResponseOps = null;
  }

  private reusable(): boolean {
    return !this.pinned && this.filterAt === 0 && !this.upgrade
      && (this.route === null || this.route.mirrors === null)
      && (this.controller === null || this.controller.signalsReadEnd);
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
    if (spec.directResponse !== null) return this.replyDirect(spec.directResponse);
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
      // the upstream's time starts after the filters' work (read-time.ts)
      if (chain.length > 0) readTimeMoved();
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
    const hashKey = cluster.hash === null ? -1 : requestHashKey(this, cluster.hash, this.sourceIp);
    if (this.upgrade) {
      const request = buildUpstreamRequest(this, route, this.body, this.contentLength);
      this.upstreamRequest = request;
      const upgrade = new UpgradeAttempt(this, cluster, request, hashKey, state.connectTimeoutMs);
      this.attempt = upgrade;
      return upgrade.start();
    }
    state.retryBudget.noteRequest(this.t0);
    const retry = route === null ? null : route.retry;
    // a finished request's attempt, its upstream request built into the old one (retired())
    let attempt = takeAttempt();
    const request = buildUpstreamRequest(this, route, this.body, this.contentLength, attempt === null ? null : attempt.request);
    if (attempt === null) attempt = new UpstreamAttempt(this, cluster, retry, request, this.body, hashKey, state.retryBudget);
    else attempt.reuse(this, cluster, retry, request, this.body, hashKey, state.retryBudget);
    this.upstreamRequest = request;
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

  // ---- 4. response (response.ts) ----

  /** The route's and destination's response header operations, this hop's Set-Cookie (not on a 101), then telemetry's headers. */
  protected shapeResponseHead(headers: string[], controller: UpstreamController, withCookie: boolean): void {
    const route = this.route;
    if (route !== null && route.spec.responseHeaders !== null) applyHeaderOps(headers, route.spec.responseHeaders);
    if (this.destResponseOps !== null) applyHeaderOps(headers, this.destResponseOps);
    if (withCookie && this.setCookie !== null) headers.push('set-cookie', this.setCookie);
    responseHead(this, headers, this.cluster?.meshed === true, controller);
  }

  // ---- ending ----

  /** ExchangeHandler: the request body's framing broke (or it stopped arriving). */
  onBodyError(err: ProxyError): void {
    if (this.ended) return;
    this.attempt?.abort(err);
    this.body?.destroy(err);
    this.fail(err);
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

  /** Never reused (an exception left it in an unknown state). */
  pin(): void {
    this.pinned = true;
  }

  /** Exactly once per request (local-reply.ts). */
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

const NO_HEADERS: string[] = Object.freeze([]) as unknown as string[];
/** finished exchanges the worker reuses (Exchange.retired): no allocation per request for the exchange itself */
const POOL: Exchange[] = [];
const POOL_SIZE = 256;

/** Starts one request; an exception (a bug) becomes a 500 for it, never a crash of the worker. */
export function startRequest(sink: ResponseSink, listener: ListenerRuntime, head: RequestHead, body: ClientBody | null): ExchangeHandler {
  let ex = POOL.pop();
  if (ex === undefined) ex = new Exchange(sink, listener);
  else ex.reuse(sink, listener);
  try {
    ex.start(head, body);
  } catch (err) {
    ex.pin();
    workerLog().error({ err: (err as Error).stack ?? String(err), path: ex.path, authority: ex.authority }, 'internal error handling a request');
    try {
      ex.fail(internalError(err));
    } catch {
      // the sink may be unusable; nothing else can be done without risking an uncaught exception
    }
  }
  return ex;
}

/** Exchanges waiting in this worker's pool (tests). */
export function pooledExchanges(): number {
  return POOL.length;
}
