// One proxied request, from its parsed head to the last byte: it is the request view for
// routing, the upstream handler for the codec, and the only object that writes to its sink.
// Order: head → route → pick destination → pick endpoint → dispatch; every failure on the way
// becomes a typed ProxyError shaped by respond.ts, written exactly once.
import type { HeaderOpsSpec } from '../config/snapshot.js';
import {
  badRequest, downstreamAborted, faultAbort, internalError, noCluster, noHealthyUpstream, noRoute, retriesExhausted,
  rbacDenied, unknownPeer, upstreamOverflow, upstreamProtocolError, upstreamTimeout, type ProxyError,
} from '../http/errors.js';
import { AuthzRequest, type AuthzEvaluator, type AuthzResult } from '../filters/authz/index.js';
import { acquireDelaySlot, releaseDelaySlot, roll } from '../filters/fault/fault.js';
import { sendMirrors } from '../filters/mirror/mirror.js';
import { backoffMs } from '../filters/retry/retry-policy.js';
import { applyHeaderOps } from '../http/header-ops.js';
import { newRequestId } from '../http/request-id.js';
import { normalizeRequestTarget } from '../http/path-normalize.js';
import {
  BAD_HEADER_VALUE, connectionListed, copyResponseHeaders, findHeader, getHeader, isHopByHop,
} from '../http/headers.js';
import { directReply, errorReply, redirectReply } from '../http/respond.js';
import { FLAG_DC, FLAG_DI, FLAG_DPE, FLAG_NONE, FLAG_UR, FLAG_URX, flagNames } from '../stats/flags.js';
import { DIRECTION_INBOUND, DIRECTION_OUTBOUND } from '../stats/ring.js';
import type { Span } from '../tracing/span.js';
import type { CompiledRoute } from '../routing/route.js';
import type { RequestView } from '../routing/request-view.js';
import type { UpstreamController, UpstreamHandler, UpstreamRequest } from '../upstream/codec.js';
import type { ClusterRuntime } from '../upstream/cluster.js';
import { OVERFLOW, QUEUED, type Admission, type AdmissionWaiter } from '../upstream/shared/admission.js';
import { requestHashKey } from './hash-key.js';
import type { Endpoint } from '../upstream/endpoint.js';
import type { ExchangeHandler, ResponseSink } from '../downstream/exchange.js';
import type { RequestHead } from '../downstream/h1/request-head.js';
import { noteBodyBytes } from './body-memory.js';
import { workerDebugEnabled, workerLog } from '../log.js';
import type { AccessLog } from './access-log.js';
import type { ClientBody } from './client-body.js';
import type { Generation } from '../worker/generation.js';
import type { ListenerRuntime } from '../worker/worker-state.js';

// Response heads wait for the body's first bytes (or the end) so that head and body leave in one
// write: one send() instead of two. Heads still pending when the current upstream read has been
// fully processed are flushed by one microtask for all of them (codecs without read-end signals).
const pendingHeads: Exchange[] = [];
let headFlushScheduled = false;
function flushPendingHeads(): void {
  headFlushScheduled = false;
  for (let i = 0; i < pendingHeads.length; i++) (pendingHeads[i] as Exchange).onUpstreamReadEnd();
  pendingHeads.length = 0;
}

export class Exchange implements RequestView, UpstreamHandler, AdmissionWaiter, ExchangeHandler {
  // RequestView
  method = '';
  path = '';
  query = '';
  authority = '';
  scheme = 'http';
  headers: string[] = [];
  listenerPort: number;

  readonly sink: ResponseSink;
  readonly listener: ListenerRuntime;
  readonly gen: Generation;
  requestId = '';
  /** 11 or 10 (the client's HTTP version) */
  private version = 11;
  /** the request target had a '?' (kept when forwarding, also with an empty query) */
  private hasQuery = false;
  /** the mTLS peer's SPIFFE id when the connection came through the TLS front; null otherwise */
  peerPrincipal: string | null = null;
  /** this hop's span when tracing is on and the request is sampled (src/tracing/) */
  private span: Span | null = null;
  /** x-forwarded-client-cert for the local app ('' unless mTLS) */
  private peerXfcc = '';
  private remote = '';
  /** the client's Content-Length when it sent one, -1 otherwise (chunked or no body) */
  private contentLength = -1;
  private body: ClientBody | null = null;

  private route: CompiledRoute | null = null;
  private matchIdx = 0;
  private destResponseOps: HeaderOpsSpec | null = null;
  private endpoint: Endpoint | null = null;
  private controller: UpstreamController | null = null;
  private upstreamRequest: UpstreamRequest | null = null;
  /** upstream attempts made (a reset before any response byte is retried once) */
  private attempts = 1;
  private cluster: ClusterRuntime | null = null;
  /** retries taken under the route's retry policy */
  private retriesDone = 0;
  /** route timeout (whole request, all tries) and per-try timeout */
  private routeTimer: NodeJS.Timeout | null = null;
  private tryTimer: NodeJS.Timeout | null = null;
  private delayed = false;
  /** connectionPool limits: the unit this request holds (or waits for), and a held retry */
  private admission: Admission | null = null;
  private admissionQueued = false;
  private retryHeld = false;
  /** consistent-hash key of this request (-2: not computed yet, -1: none) */
  private keyHash = -2;
  /** Set-Cookie for a consistent-hash cookie meshlet generated for this client */
  setCookie: string | null = null;
  /** performance.now() when the current try was dispatched (peak-EWMA latency) */
  private tTry = 0;

  // response side
  private aborted = false;
  private finished = false;
  private headersSent = false;
  /** response head received but not yet written (see pendingHeads) */
  headPending = false;
  private responseHeaders: string[] | null = null;
  private upstreamStatus = 0;
  private bodyless = false;
  private responseLength = -1;
  private upstreamEnded = false;
  /** the client could not take the last chunk: the upstream is paused until it drains */
  private waitingWritable = false;
  bytesSent = 0;

  // stats record fields
  private readonly t0 = performance.now();
  private tUpstream = 0;
  private tUpstreamEnd = 0;
  private status = 0;
  private flag = FLAG_NONE;
  private clusterId = -1;
  /** the last upstream failure's detail (addresses, errno), for the access log only */
  private failDetail: string | null = null;

  constructor(sink: ResponseSink, listener: ListenerRuntime) {
    this.sink = sink;
    this.listener = listener;
    this.listenerPort = listener.spec.port;
    this.gen = listener.state.gen;
  }

  /** The downstream adapter parsed (and validated) the head: the request path starts here. */
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
    this.version = head.version;
    this.body = body;
    if (body !== null && head.contentLength > 0) this.contentLength = head.contentLength;

    const peers = this.listener.peers;
    if (peers === null) {
      this.remote = this.sink.remoteAddress;
    } else {
      // behind the TLS front: the PROXY v2 source address names the peer (cached per slot)
      const peer = peers.resolve(this.sink.proxiedAddress);
      if (peer === null) return this.fail(unknownPeer());
      this.remote = peer.clientIp;
      this.peerPrincipal = peer.principal === '' ? null : peer.principal;
      this.peerXfcc = peer.xfcc;
    }

    if (this.authority === '') return this.fail(badRequest('missing Host header'));
    const id = findHeader(this.headers, 'x-request-id');
    this.requestId = id < 0 ? newRequestId() : this.headers[id] as string;
    // routing, authorization and the app all see the normalised path (Istio's pathNormalization)
    if (!normalizeRequestTarget(this, state.pathNormalization)) return this.fail(badRequest('%00 in the request path'));
    // tracing: continue or start the trace; the outgoing trace headers are rewritten in place
    const tracer = this.listener.state.tracer;
    if (tracer !== null) this.span = tracer.start(this);
    this.route_();
  }

  /** Route → destination → endpoint → dispatch. */
  private route_(): void {
    const gen = this.gen;
    if (this.listener.inbound) {
      // authorization first: a denied request is never forwarded, delayed or counted upstream
      if (gen.authz !== null && !this.authorize(gen.authz)) return;
      const cluster = gen.cluster(this.listener.spec.inboundClusterId);
      if (cluster === null) return this.fail(noCluster(`inbound listener ${this.listener.spec.name} has no cluster`));
      this.clusterId = cluster.spec.id;
      this.cluster = cluster;
      return this.admit(cluster);
    }
    const vh = gen.routes.find(this.authority);
    if (vh === null) return this.fail(noRoute(this.authority, this.path));
    let route: CompiledRoute | null = null;
    for (const r of vh.routes) {
      const idx = r.matchIndex(this);
      if (idx >= 0) {
        route = r;
        this.matchIdx = idx;
        break;
      }
    }
    if (route === null) return this.fail(noRoute(this.authority, this.path));
    this.route = route;
    const spec = route.spec;
    if (spec.redirect !== null) return this.redirect();
    if (spec.directResponse !== null) {
      this.status = spec.directResponse.status;
      const reply = directReply(spec.directResponse.body, this.requestId);
      this.finish();
      this.sink.reply(spec.directResponse.status, reply.headers, reply.body, this.bodyUnread());
      return;
    }
    const dest = route.pickDestination();
    const cluster = dest.cluster;
    if (cluster === null) return this.fail(noCluster(dest.unresolved));
    this.clusterId = cluster.spec.id;
    if (dest.spec.headers !== null) this.destResponseOps = dest.spec.headers.response;
    this.cluster = cluster;
    if (dest.spec.headers !== null && dest.spec.headers.request !== null) applyHeaderOps(this.headers, dest.spec.headers.request);
    const fault = spec.fault;
    // Envoy's order: the delay first, then the abort; neither touches the upstream
    if (fault !== null && fault.delay !== null && roll(fault.delay.percent) && acquireDelaySlot()) {
      this.delayed = true;
      this.flag |= FLAG_DI;
      setTimeout(afterFaultDelay, fault.delay.fixedDelayMs, this);
      return;
    }
    this.afterFault();
  }

  /** AuthorizationPolicy (Istio order: DENY, then ALLOW, AUDIT never decides); false after a 403 RBAC. */
  private authorize(authz: AuthzEvaluator): boolean {
    const attrs = AUTHZ_ATTRS;
    attrs.method = this.method;
    attrs.path = this.path;
    attrs.host = this.authority;
    attrs.port = this.listenerPort;
    attrs.principal = this.peerPrincipal;
    attrs.sourceIp = this.remote;
    attrs.headers = this.headers;
    authz.evaluate(attrs, AUTHZ_RESULT);
    attrs.headers = NO_HEADERS;
    if (AUTHZ_RESULT.allowed) return true;
    this.fail(rbacDenied(AUTHZ_RESULT.policy ?? 'no matching ALLOW policy'));
    return false;
  }

  /** After an injected delay (or none): maybe an injected abort, then the upstream. */
  afterFault(): void {
    if (this.delayed) {
      this.delayed = false;
      releaseDelaySlot();
      if (this.aborted || this.finished) return;
    }
    const fault = (this.route as CompiledRoute).spec.fault;
    if (fault !== null && fault.abort !== null && roll(fault.abort.percent)) return this.fail(faultAbort(fault.abort.httpStatus));
    const cluster = this.cluster as ClusterRuntime;
    const timeoutMs = (this.route as CompiledRoute).spec.timeoutMs;
    if (timeoutMs > 0) this.routeTimer = setTimeout(onRouteTimeout, timeoutMs, this);
    this.listener.state.retryBudget.noteRequest(this.t0);
    this.admit(cluster);
  }

  /** connectionPool limits (sidecar-wide): go, wait for a unit, or 503 UO at once. */
  private admit(cluster: ClusterRuntime): void {
    const admission = cluster.admission;
    if (admission !== null) {
      const r = admission.tryAdmit(this);
      if (r === OVERFLOW) return this.fail(upstreamOverflow(cluster.name));
      this.admission = admission;
      if (r === QUEUED) {
        this.admissionQueued = true;
        return;
      }
    }
    this.forward(cluster.pick(this.hashKeyOf(cluster), null), cluster.name);
  }

  /** AdmissionWaiter: a unit freed up for this waiting request. */
  admitted(): void {
    this.admissionQueued = false;
    if (this.aborted || this.finished) {
      // finish() cancels a waiting request, so this is only a safety net: give the unit back
      this.admission?.release();
      this.admission = null;
      return;
    }
    const cluster = this.cluster as ClusterRuntime;
    this.forward(cluster.pick(this.hashKeyOf(cluster), null), cluster.name);
  }

  private hashKeyOf(cluster: ClusterRuntime): number {
    if (cluster.hash === null) return -1;
    if (this.keyHash === -2) this.keyHash = requestHashKey(this, cluster.hash, this.remote);
    return this.keyHash;
  }

  private redirect(): void {
    const r = (this.route as CompiledRoute).spec.redirect as NonNullable<CompiledRoute['spec']['redirect']>;
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

  private forward(ep: Endpoint | null, clusterName: string): void {
    if (ep === null) return this.fail(noHealthyUpstream(clusterName));
    this.endpoint = ep;
    ep.begin();
    const route = this.route;
    const upstreamHeaders = this.upstreamHeaders(route);
    let path = this.path;
    if (route !== null && route.spec.rewrite !== null) {
      const rw = route.spec.rewrite;
      if (rw.uri !== null) {
        const prefixLength = route.matches.length === 0 ? -1 : (route.matches[this.matchIdx]?.prefixLength ?? -1);
        path = prefixLength >= 0 ? rw.uri + path.slice(prefixLength) : rw.uri;
        if (path === '') path = '/';
      }
    }
    if (this.hasQuery) path = `${path}?${this.query}`;
    this.tUpstream = performance.now();
    const upstreamRequest: UpstreamRequest = {
      method: this.method,
      path,
      headers: upstreamHeaders,
      body: this.body,
      contentLength: this.contentLength,
    };
    this.upstreamRequest = upstreamRequest;
    if (route !== null && route.mirrors !== null) this.mirror(route);
    this.dispatchTry();
  }

  /** One try to the current endpoint, under the per-try timeout when the route has one. */
  private dispatchTry(): void {
    const perTry = this.route === null ? 0 : this.route.retry.perTryTimeoutMs;
    if (perTry > 0) this.tryTimer = setTimeout(onTryTimeout, perTry, this);
    this.tTry = performance.now();
    (this.endpoint as Endpoint).pool.dispatch(this.upstreamRequest as UpstreamRequest, this);
  }

  /**
   * The route's retry policy: a retriable failure or status gets another try, on a different
   * endpoint when the cluster has one, after a jittered back-off, within the worker's retry budget.
   * A request body is replayed when it arrived whole and within 64 KiB; larger ones are not retried.
   */
  private retryByPolicy(): boolean {
    const route = this.route;
    const cluster = this.cluster;
    if (route === null || cluster === null || !this.canReplay() || this.headersSent || this.headPending) return false;
    if (this.retriesDone >= route.retry.attempts) return false;
    if (!this.retryHeld && this.admission !== null) {
      if (!this.admission.tryRetry()) return false; // maxRetries in flight
      this.retryHeld = true;
    }
    if (!this.listener.state.retryBudget.tryRetry(performance.now())) return false;
    this.retriesDone++;
    this.clearTryTimer();
    setTimeout(retryAfterBackoff, backoffMs(this.retriesDone), this);
    return true;
  }

  /** Next try: another endpoint than the last one when there is one. */
  retryNow(): void {
    if (this.aborted || this.finished) return;
    const cluster = this.cluster as ClusterRuntime;
    const last = this.endpoint;
    const ep = cluster.pick(this.hashKeyOf(cluster), last);
    if (ep === null) return this.fail(noHealthyUpstream(cluster.name));
    if (last !== null) last.end();
    this.endpoint = ep;
    ep.begin();
    this.controller = null;
    this.rewindBody();
    this.dispatchTry();
  }

  /** The route timeout fired: the request gets 504 UT (or its connection closed if the response started). */
  routeTimedOut(): void {
    this.routeTimer = null;
    if (this.aborted || this.finished) return;
    this.controller?.abort(upstreamTimeout((this.route as CompiledRoute).spec.timeoutMs));
    this.fail(upstreamTimeout((this.route as CompiledRoute).spec.timeoutMs));
  }

  /** A per-try timeout fired: this try is abandoned; retried when the policy allows. */
  tryTimedOut(): void {
    this.tryTimer = null;
    if (this.aborted || this.finished || this.headersSent || this.headPending) return;
    const err = upstreamTimeout((this.route as CompiledRoute).retry.perTryTimeoutMs);
    this.controller?.abort(err);
    this.controller = null;
    this.reportLocalFailure();
    this.onTryFailed(err);
  }

  private clearTryTimer(): void {
    if (this.tryTimer !== null) {
      clearTimeout(this.tryTimer);
      this.tryTimer = null;
    }
  }

  /** A try failed before any response byte: retry by policy, else answer (URX once retries were used). */
  private onTryFailed(err: ProxyError): void {
    if (this.route !== null && this.route.retry.retriesError(err) && this.retryByPolicy()) return;
    this.fail(this.retriesDone > 0 ? retriesExhausted(err) : err);
  }

  /**
   * A pooled keep-alive connection that the upstream closed just as it was reused fails before any
   * response byte: the request never reached the app, so it is sent once more on a fresh connection,
   * whatever the method (Envoy's reset-before-request), when its body (if any) can be replayed.
   */
  private retryBeforeRequest(err: ProxyError): boolean {
    if (!err.retryable || this.attempts > 1 || !this.canReplay() || this.headPending || this.endpoint === null) return false;
    this.attempts++;
    this.controller = null;
    this.rewindBody();
    this.dispatchTry();
    return true;
  }

  /** Outlier detection: a try failed before any response (connect failure, reset, timeout). */
  private reportLocalFailure(): void {
    const cluster = this.cluster;
    if (cluster !== null && cluster.outlier !== null && this.endpoint !== null) cluster.outlier.onLocalFailure(this.endpoint);
  }

  /** Shadow copies: now when there is no body (or it is already whole), else once it has arrived within the replay buffer. */
  private mirror(route: CompiledRoute): void {
    const body = this.body;
    if (body === null) return sendMirrors(route.mirrors as NonNullable<CompiledRoute['mirrors']>, this.upstreamRequest as UpstreamRequest, null, 0);
    body.onComplete = this;
    if (body.replayable) this.bodyComplete();
  }

  /** ClientBody: the whole request body arrived (kept for replay when ≤ 64 KiB; larger bodies are not mirrored). */
  bodyComplete(): void {
    const body = this.body as ClientBody;
    body.onComplete = null;
    const route = this.route;
    if (route === null || route.mirrors === null || !body.replayable) return;
    sendMirrors(route.mirrors, this.upstreamRequest as UpstreamRequest, body, body.received);
  }

  /** A request can be sent again when it has no body, or its whole body was kept (≤ 64 KiB). */
  private canReplay(): boolean {
    return this.body === null || this.body.replayable;
  }

  private rewindBody(): void {
    if (this.body !== null) (this.upstreamRequest as UpstreamRequest).body = this.body.replayStream();
  }

  /** The client's headers minus hop-by-hop, plus x-forwarded-*, x-request-id and route header ops. */
  private upstreamHeaders(route: CompiledRoute | null): string[] {
    const h = this.headers;
    const out: string[] = [];
    const connIdx = findHeader(h, 'connection');
    const listed = connIdx < 0 ? null : connectionListed(h[connIdx] as string);
    let xff = '';
    let hasProto = false;
    let hasId = false;
    for (let i = 0; i < h.length; i += 2) {
      const name = h[i] as string;
      if (isHopByHop(name) || name === 'expect') continue;
      if (listed !== null && listed.has(name)) continue;
      const value = h[i + 1] as string;
      if (name === 'x-forwarded-for') { xff = xff === '' ? value : `${xff}, ${value}`; continue; }
      // only meshlet vouches for a client certificate: a client's own value never passes
      if (name === 'x-forwarded-client-cert') continue;
      if (name === 'x-forwarded-proto') hasProto = true;
      else if (name === 'x-request-id') hasId = true;
      out.push(name, value);
    }
    out.push('x-forwarded-for', xff === '' ? this.remote : `${xff}, ${this.remote}`);
    if (!hasProto) out.push('x-forwarded-proto', this.scheme);
    if (!hasId) out.push('x-request-id', this.requestId);
    if (this.peerXfcc !== '') out.push('x-forwarded-client-cert', this.peerXfcc);
    if (route !== null) {
      const spec = route.spec;
      if (spec.rewrite !== null && spec.rewrite.authority !== null) {
        const i = findHeader(out, 'host');
        if (i >= 0) out[i] = spec.rewrite.authority;
      }
      if (spec.requestHeaders !== null) applyHeaderOps(out, spec.requestHeaders);
    }
    return out;
  }

  // ---- UpstreamHandler ----

  onUpstreamStart(controller: UpstreamController): void {
    this.controller = controller;
    if (this.aborted) controller.abort(downstreamAborted());
  }

  onUpstreamHeaders(status: number, raw: string[]): void {
    if (this.aborted || this.finished) return;
    this.clearTryTimer();
    const cluster = this.cluster;
    if (cluster !== null && this.endpoint !== null) {
      if (cluster.outlier !== null) cluster.outlier.onStatus(this.endpoint, status);
      if (cluster.spec.lb === 'PEAK_EWMA') this.endpoint.observeLatency(performance.now() - this.tTry, Date.now());
    }
    if (this.route !== null && this.route.retry.retriesStatus(status)) {
      const controller = this.controller;
      if (this.retryByPolicy()) {
        // this response is dropped: the next try answers instead
        controller?.abort(upstreamProtocolError(`status ${status} retried`));
        return;
      }
      if (this.retriesDone > 0) this.flag |= FLAG_URX;
    }
    const responseHeaders: string[] = [];
    const controller = this.controller as UpstreamController;
    const length = copyResponseHeaders(raw, responseHeaders, controller.headersValidated);
    if (length === BAD_HEADER_VALUE) {
      const err = upstreamProtocolError('response header with CR, LF or NUL');
      controller.abort(err);
      return this.fail(err);
    }
    const route = this.route;
    if (route !== null && route.spec.responseHeaders !== null) applyHeaderOps(responseHeaders, route.spec.responseHeaders);
    if (this.destResponseOps !== null) applyHeaderOps(responseHeaders, this.destResponseOps);
    if (this.setCookie !== null) responseHeaders.push('set-cookie', this.setCookie);
    this.responseLength = length;
    this.upstreamStatus = status;
    this.bodyless = this.method === 'HEAD' || status === 204 || status === 304;
    this.responseHeaders = responseHeaders;
    this.headPending = true;
    // the h1 codec says when the read that carried this head has been delivered (onUpstreamReadEnd)
    if (controller.signalsReadEnd) return;
    pendingHeads.push(this);
    if (!headFlushScheduled) {
      headFlushScheduled = true;
      queueMicrotask(flushPendingHeads);
    }
  }

  /** The read that carried the head had no body bytes for it (or not all of them): the head leaves now. */
  onUpstreamReadEnd(): void {
    if (!this.headPending || this.aborted || this.finished) return;
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

  onUpstreamData(chunk: Buffer): void {
    if (this.aborted || this.finished || this.bodyless) return;
    this.writeHead();
    this.bytesSent += chunk.length;
    noteBodyBytes(chunk.length);
    if (!this.sink.data(chunk)) {
      // the client is slow: the upstream waits until it has taken what it was given
      this.waitingWritable = true;
      (this.controller as UpstreamController).pause();
    }
  }

  /** ExchangeHandler: the client took what it was given. */
  onWritable(): void {
    if (!this.waitingWritable || this.aborted || this.finished) return;
    this.waitingWritable = false;
    (this.controller as UpstreamController).resume();
  }

  onUpstreamEnd(): void {
    this.tUpstreamEnd = performance.now();
    if (this.aborted || this.finished) return;
    this.upstreamEnded = true;
    // an upstream that ended before its Content-Length: the client must not take it as complete
    if (this.responseLength >= 0 && !this.bodyless && this.bytesSent < this.responseLength) return this.closeClient();
    this.writeHead();
    this.finish();
    this.sink.end();
  }

  onUpstreamError(err: ProxyError): void {
    this.tUpstreamEnd = performance.now();
    if (this.aborted || this.finished) return;
    if (err.detail !== '') this.failDetail = err.detail;
    if (this.headersSent) return this.closeClient();
    this.clearTryTimer();
    if (err.source === 'upstream') this.reportLocalFailure();
    if (this.retryBeforeRequest(err)) return;
    this.onTryFailed(err);
  }

  // ---- ending ----

  /** Writes a synthetic reply for `err` (or closes the connection if headers already went out). */
  fail(err: ProxyError): void {
    if (this.aborted || this.finished) return;
    if (this.headersSent) return this.closeClient();
    this.headPending = false; // a head not yet written is replaced by the error reply
    this.status = err.status;
    this.flag |= err.flag;
    // a request that cannot be read or trusted (DPE: framing, headers, an unknown peer behind
    // the TLS front) closes the connection after the reply: what follows on it is not trusted
    const close = this.bodyUnread() || (err.flag & FLAG_DPE) !== 0 || this.listener.state.draining;
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
    if (this.aborted || this.finished) return;
    this.controller?.abort(err);
    this.body?.destroy(err);
    this.fail(err);
  }

  private closeClient(): void {
    this.flag |= FLAG_UR;
    this.finish();
    this.sink.reset();
  }

  /** ExchangeHandler: the client went away before the response ended. */
  onAborted(): void {
    if (this.finished) return;
    if (workerDebugEnabled()) {
      workerLog().debug({
        method: this.method, path: this.path, upstreamStatus: this.upstreamStatus, bytesSent: this.bytesSent, responseLength: this.responseLength,
        headPending: this.headPending, waitingWritable: this.waitingWritable, upstreamEnded: this.upstreamEnded,
        body: this.body?.describe() ?? null, upstream: this.controller?.describe() ?? null,
      }, 'client connection closed before the response ended');
    }
    this.aborted = true;
    this.flag |= FLAG_DC;
    this.controller?.abort(downstreamAborted());
    this.body?.destroy(downstreamAborted());
    this.finish();
  }

  /** Exactly once per request, whatever the path. */
  finish(): void {
    if (this.finished) return;
    this.finished = true;
    if (this.routeTimer !== null) clearTimeout(this.routeTimer);
    this.clearTryTimer();
    if (this.body !== null) this.body.live = false;
    if (this.endpoint !== null) this.endpoint.end();
    const admission = this.admission;
    if (admission !== null) {
      if (this.retryHeld) admission.releaseRetry();
      if (this.admissionQueued) admission.cancel(this);
      else admission.release();
      this.admission = null;
    }
    this.record();
    if (this.span !== null) {
      this.span.end(this.aborted ? 0 : this.status, this.flag, this.endpoint, this.gen.cluster(this.clusterId), this.peerPrincipal);
    }
    this.listener.state.requestDone();
  }

  /** One fixed-size record into this worker's stats ring; never blocks (a full ring counts a drop). */
  private record(): void {
    const now = performance.now();
    const listener = this.listener;
    const upstreamUs = this.tUpstream === 0 ? -1 : ((this.tUpstreamEnd === 0 ? now : this.tUpstreamEnd) - this.tUpstream) * 1000;
    listener.state.stats?.write(
      this.gen.id, listener.inbound ? DIRECTION_INBOUND : DIRECTION_OUTBOUND, listener.index,
      this.route === null ? -1 : this.route.index, this.clusterId, -1,
      this.aborted ? 0 : this.status, this.flag, (now - this.t0) * 1000, upstreamUs,
      this.body === null ? 0 : this.body.received, this.bytesSent,
    );
    const log = listener.state.accessLog;
    if (log !== null && log.sampled()) this.accessLog(log, now, upstreamUs);
  }

  private accessLog(log: AccessLog, now: number, upstreamUs: number): void {
    const ep = this.endpoint;
    log.write({
      start_time: new Date(Date.now() - (now - this.t0)).toISOString(),
      method: this.method,
      path: this.query === '' ? this.path : `${this.path}?${this.query}`,
      protocol: this.version === 10 ? 'HTTP/1.0' : 'HTTP/1.1',
      response_code: this.aborted ? 0 : this.status,
      response_flags: flagNames(this.flag),
      bytes_received: this.body === null ? 0 : this.body.received,
      bytes_sent: this.bytesSent,
      duration_ms: Math.round((now - this.t0) * 1000) / 1000,
      upstream_service_time_ms: upstreamUs < 0 ? null : Math.round(upstreamUs) / 1000,
      upstream_host: ep === null ? null : ep.key,
      upstream_cluster: this.clusterId < 0 ? null : (this.gen.cluster(this.clusterId)?.name ?? null),
      route_name: this.route === null ? null : this.route.name,
      authority: this.authority,
      x_request_id: this.requestId,
      user_agent: getHeader(this.headers, 'user-agent') ?? null,
      downstream_remote_address: this.remote,
      downstream_peer_uri_san: this.peerPrincipal,
      direction: this.listener.spec.direction,
      upstream_transport_failure_reason: this.failDetail,
    });
  }
}

// one attribute object and result per worker: the authz check is synchronous
const AUTHZ_ATTRS = new AuthzRequest();
const AUTHZ_RESULT: AuthzResult = { allowed: true, policy: null, audit: null };
const NO_HEADERS: string[] = [];

function afterFaultDelay(ctx: Exchange): void {
  ctx.afterFault();
}
function retryAfterBackoff(ctx: Exchange): void {
  ctx.retryNow();
}
function onRouteTimeout(ctx: Exchange): void {
  ctx.routeTimedOut();
}
function onTryTimeout(ctx: Exchange): void {
  ctx.tryTimedOut();
}

/** Starts one request; an exception (a bug) becomes a 500 for it, never a crash of the worker. */
export function startRequest(sink: ResponseSink, listener: ListenerRuntime, head: RequestHead, body: ClientBody | null): ExchangeHandler {
  const ctx = new Exchange(sink, listener);
  try {
    ctx.start(head, body);
  } catch (err) {
    workerLog().error({ err: (err as Error).stack ?? String(err), path: ctx.path, authority: ctx.authority }, 'internal error handling a request');
    try {
      ctx.fail(internalError(err));
    } catch {
      // the sink may be unusable; nothing else can be done without risking an uncaught exception
    }
  }
  return ctx;
}
