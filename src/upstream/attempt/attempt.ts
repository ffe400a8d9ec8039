// One request's upstream side, wrapped around the codec seam the way undici's RetryHandler wraps
// a dispatch handler: the codec talks to the attempt, and the attempt passes on the one response
// that counts. It owns the connection-pool admission, the endpoint (picked by the cluster's
// balancer; a retry goes to another one when there is one), each try under its per-try timeout,
// the route's retry policy (back-off, retry budget, maxRetries), and the endpoint bookkeeping
// (in flight, outlier detection, peak-EWMA latency, the admission unit given back).
import { performance } from 'node:perf_hooks';
import { now } from '../../tcp/read-time.js';
import {
  downstreamAborted, noHealthyUpstream, retriesExhausted, upstreamOverflow, upstreamProtocolError, upstreamTimeout,
  type ProxyError,
} from '../../http/errors.js';
import type { RetryBudget } from '../../filters/retry/retry-budget.js';
import { backoffMs, type RetryPolicy } from '../../filters/retry/retry-policy.js';
import type { ClientBody } from '../../request/client-body.js';
import { FLAG_UC, FLAG_URX } from '../../stats/flags.js';
import { GRPC_UNKNOWN, grpcToHttpStatus, parseGrpcStatus } from '../../http/grpc.js';
import type { ClusterRuntime } from '../cluster.js';
import type { UpstreamController, UpstreamHandler, UpstreamRequest } from '../codec.js';
import type { Endpoint } from '../endpoint.js';
import { OVERFLOW, QUEUED, type Admission, type AdmissionWaiter } from '../shared/admission.js';

/** Where the response goes: the exchange (or a test's stub downstream). */
export interface AttemptOwner {
  /** A response head that is not retried: from here on the owner has the response. */
  onAttemptHeaders(status: number, headers: string[], controller: UpstreamController): void;
  /** Body bytes, valid during the call only. */
  onAttemptData(chunk: Buffer): void;
  /** Everything one upstream read carried has been delivered (h1 codec). */
  onAttemptReadEnd(): void;
  /** The response's trailers (flat raw), just before onAttemptEnd. */
  onAttemptTrailers(trailers: string[]): void;
  onAttemptEnd(): void;
  /** The request failed upstream (retries, where allowed, were tried): answer `err`, or reset the client. */
  onAttemptError(err: ProxyError): void;
  /** Response flags to add to the request's record (URX when a retried request got its final status). */
  addFlags(bits: number): void;
}

export class UpstreamAttempt implements UpstreamHandler, AdmissionWaiter {
  // (what a request brings: set by reuse(), which the constructor calls)
  private declare owner: AttemptOwner;
  declare cluster: ClusterRuntime;
  /** the route's policy; null for inbound traffic (only the reset-before-request retry applies) */
  private declare retry: RetryPolicy | null;
  /** the request as it goes upstream (reusable(): the next request through this attempt is built into it) */
  declare request: UpstreamRequest;
  private declare body: ClientBody | null;
  /** consistent-hash key, -1 for none */
  private declare hashKey: number;
  private declare budget: RetryBudget;

  endpoint: Endpoint | null = null;
  controller: UpstreamController | null = null;
  /** tries on the same endpoint for the keep-alive race (a reset before any response byte) */
  private attempts = 1;
  /** retries taken under the route's retry policy */
  retriesDone = 0;
  private tryTimer: NodeJS.Timeout | null = null;
  /** performance.now() when the current try was dispatched (peak-EWMA latency) */
  private tTry = 0;
  private admission: Admission | null = null;
  private admissionQueued = false;
  private retryHeld = false;
  /** a response head went to the owner: no more retries */
  private delivered = false;
  /** released: whatever the codec still reports is dropped */
  private done = false;
  /** performance.now() of the first dispatch and of the upstream's end (0: not yet) */
  tStart = 0;
  tEnd = 0;
  /** the last upstream failure's detail (addresses, errno), for the access log only */
  failDetail: string | null = null;
  /** a gRPC request: its grpc-status counts for outlier detection and gRPC retry conditions */
  grpc = false;
  /** a gRPC response whose status is still to come (in its trailers): outlier detection waits for it */
  private grpcPending = false;
  /** it waited for an admission unit (the admission queue knew it) */
  private queuedOnce = false;
  /** its try's codec gave its last word (onUpstreamEnd or onUpstreamError) */
  private terminal = false;

  constructor(owner: AttemptOwner, cluster: ClusterRuntime, retry: RetryPolicy | null, request: UpstreamRequest,
    body: ClientBody | null, hashKey: number, budget: RetryBudget) {
    this.reuse(owner, cluster, retry, request, body, hashKey, budget);
  }

  /** A released attempt (reusable()) becomes a new one, as the constructor leaves it (a test checks every field). */
  reuse(owner: AttemptOwner, cluster: ClusterRuntime, retry: RetryPolicy | null, request: UpstreamRequest,
    body: ClientBody | null, hashKey: number, budget: RetryBudget): void {
    this.owner = owner;
    this.cluster = cluster;
    this.retry = retry;
    this.request = request;
    this.body = body;
    this.hashKey = hashKey;
    this.budget = budget;
    this.endpoint = null;
    this.controller = null;
    this.attempts = 1;
    this.retriesDone = 0;
    this.tryTimer = null;
    this.tTry = 0;
    this.admission = null;
    this.admissionQueued = false;
    this.retryHeld = false;
    this.delivered = false;
    this.done = false;
    this.tStart = 0;
    this.tEnd = 0;
    this.failDetail = null;
    this.grpc = false;
    this.grpcPending = false;
    this.queuedOnce = false;
    this.terminal = false;
  }

  /**
   * The owner is done with this attempt (its request was answered and the owner is being reused):
   * when nothing else can call it (reusable()), it goes to the worker's pool (takeAttempt()), and
   * its codec's controller, which only it and its owner held, to the codec's.
   */
  retire(): void {
    if (!this.reusable()) return;
    this.controller?.recycle?.();
    this.park();
    if (FREE.length < FREE_MAX) FREE.push(this);
  }

  /** Pooled: nothing of its request is held until reuse() (a pooled attempt may wait long). */
  private park(): void {
    const self = this as unknown as Record<'owner' | 'cluster' | 'budget', null>;
    self.owner = null;
    self.cluster = null;
    self.budget = null;
    this.retry = null;
    this.body = null;
    this.endpoint = null;
    this.controller = null;
    this.admission = null;
    this.request.body = null;
  }

  /**
   * Nothing can call this attempt any more, so it may serve another request: it was released, it
   * never waited in the admission queue, and its one try (no retry, whose back-off timer could
   * still fire) either never went out or was ended by the HTTP/1.1 codec, which lets go of a
   * request before its last callback (upstream/h1/connection.ts).
   */
  reusable(): boolean {
    return this.done && !this.queuedOnce && this.attempts === 1 && this.retriesDone === 0
      && (this.tStart === 0 || (this.terminal && this.controller !== null && this.controller.signalsReadEnd));
  }

  /** connectionPool limits (sidecar-wide): go, wait for a unit, or 503 UO at once. */
  start(): void {
    const admission = this.cluster.admission;
    if (admission !== null) {
      const r = admission.tryAdmit(this);
      if (r === OVERFLOW) return this.owner.onAttemptError(upstreamOverflow(this.cluster.name));
      this.admission = admission;
      if (r === QUEUED) {
        this.admissionQueued = true;
        this.queuedOnce = true;
        return;
      }
    }
    this.forward(this.cluster.pick(this.hashKey, null));
  }

  /** AdmissionWaiter: a unit freed up for this waiting request. */
  admitted(): void {
    this.admissionQueued = false;
    if (this.done) {
      // release() cancels a waiting request, so this is only a safety net: give the unit back
      this.admission?.release();
      this.admission = null;
      return;
    }
    this.forward(this.cluster.pick(this.hashKey, null));
  }

  private forward(ep: Endpoint | null): void {
    if (ep === null) return this.owner.onAttemptError(noHealthyUpstream(this.cluster.name));
    this.endpoint = ep;
    ep.begin();
    this.tStart = now();
    this.dispatchTry();
  }

  /** One try to the current endpoint, under the per-try timeout when the route has one. */
  private dispatchTry(): void {
    const perTry = this.retry === null ? 0 : this.retry.perTryTimeoutMs;
    if (perTry > 0) this.tryTimer = setTimeout(onTryTimeout, perTry, this);
    if (this.cluster.spec.lb === 'PEAK_EWMA') this.tTry = performance.now();
    const ep = this.endpoint as Endpoint;
    // useClientProtocol: an HTTP/2 client's request goes to the endpoint's HTTP/2 pool
    (this.request.fromHttp2 === true && ep.h2Pool !== null ? ep.h2Pool : ep.pool).dispatch(this.request, this);
  }

  /**
   * The route's retry policy: a retriable failure or status gets another try, on a different
   * endpoint when the cluster has one, after a jittered back-off, within the worker's retry budget.
   * A request body is replayed when it arrived whole and within 64 KiB; larger ones are not retried.
   */
  private retryByPolicy(): boolean {
    const retry = this.retry;
    if (retry === null || !this.canReplay() || this.delivered || this.retriesDone >= retry.attempts) return false;
    if (!this.retryHeld && this.admission !== null) {
      if (!this.admission.tryRetry()) return false; // maxRetries in flight
      this.retryHeld = true;
    }
    if (!this.budget.tryRetry(performance.now())) return false;
    this.retriesDone++;
    this.clearTryTimer();
    setTimeout(retryAfterBackoff, backoffMs(this.retriesDone), this);
    return true;
  }

  /** Next try: another endpoint than the last one when there is one. */
  retryNow(): void {
    if (this.done) return;
    const last = this.endpoint;
    const ep = this.cluster.pick(this.hashKey, last);
    if (ep === null) return this.owner.onAttemptError(noHealthyUpstream(this.cluster.name));
    if (last !== null) last.end();
    this.endpoint = ep;
    ep.begin();
    this.controller = null;
    this.rewindBody();
    this.dispatchTry();
  }

  /** A per-try timeout fired: this try is abandoned; retried when the policy allows. */
  tryTimedOut(): void {
    this.tryTimer = null;
    if (this.done || this.delivered) return;
    const err = upstreamTimeout((this.retry as RetryPolicy).perTryTimeoutMs);
    this.controller?.abort(err);
    this.controller = null;
    this.reportLocalFailure();
    this.onTryFailed(err);
  }

  /** A try failed before any response byte: retry by policy, else the owner answers (URX once retries were used). */
  private onTryFailed(err: ProxyError): void {
    if (this.retry !== null && this.retry.retriesError(err) && this.retryByPolicy()) return;
    this.owner.onAttemptError(this.retriesDone > 0 ? retriesExhausted(err) : err);
  }

  /**
   * A pooled keep-alive connection that the upstream closed just as it was reused fails before any
   * response byte: the request never reached the app, so it is sent once more on a fresh connection,
   * whatever the method (Envoy's reset-before-request), when its body (if any) can be replayed.
   */
  private retryBeforeRequest(err: ProxyError): boolean {
    if (err.flag !== FLAG_UC || !err.retryable || this.attempts > 1 || !this.canReplay() || this.delivered || this.endpoint === null) return false;
    this.attempts++;
    this.controller = null;
    this.rewindBody();
    this.dispatchTry();
    return true;
  }

  /** Outlier detection: a try failed before any response (connect failure, reset, timeout). */
  private reportLocalFailure(): void {
    const outlier = this.cluster.outlier;
    if (outlier !== null && this.endpoint !== null) outlier.onLocalFailure(this.endpoint);
  }

  /** A request can be sent again when it has no body, or its whole body was kept (≤ 64 KiB). */
  private canReplay(): boolean {
    return this.body === null || this.body.replayable;
  }

  private rewindBody(): void {
    if (this.body !== null) this.request.body = this.body.replayStream();
  }

  private clearTryTimer(): void {
    if (this.tryTimer !== null) {
      clearTimeout(this.tryTimer);
      this.tryTimer = null;
    }
  }

  /** The owner gives up on the upstream (the client left, the route timeout, a broken request body). */
  abort(err: ProxyError): void {
    if (!this.done) this.controller?.abort(err);
  }

  /** Exactly once, when the request ends: the endpoint and the admission unit are given back. */
  release(): void {
    if (this.done) return;
    this.done = true;
    this.clearTryTimer();
    if (this.endpoint !== null) this.endpoint.end();
    const admission = this.admission;
    if (admission !== null) {
      if (this.retryHeld) admission.releaseRetry();
      if (this.admissionQueued) admission.cancel(this);
      else admission.release();
      this.admission = null;
    }
  }

  // ---- UpstreamHandler (the codec) ----

  onUpstreamStart(controller: UpstreamController): void {
    this.controller = controller;
    if (this.done) controller.abort(downstreamAborted());
  }

  onUpstreamHeaders(status: number, raw: string[]): void {
    if (this.done) return;
    this.clearTryTimer();
    const cluster = this.cluster;
    const ep = this.endpoint;
    // gRPC: the status in the headers of a trailers-only response (else it comes in the trailers)
    const grpcStatus = this.grpc ? rawGrpcStatus(raw) : -1;
    this.grpcPending = false;
    if (ep !== null) {
      if (cluster.outlier !== null) {
        // Envoy: a gRPC result counts as its HTTP equivalent (UNAVAILABLE as 503, ...)
        if (grpcStatus >= 0) cluster.outlier.onStatus(ep, grpcToHttpStatus(grpcStatus));
        else if (this.grpc && status === 200) this.grpcPending = true;
        else cluster.outlier.onStatus(ep, status);
      }
      if (cluster.spec.lb === 'PEAK_EWMA') ep.observeLatency(performance.now() - this.tTry, Date.now());
    }
    if (this.retry !== null && (this.retry.retriesStatus(status) || (grpcStatus >= 0 && this.retry.retriesGrpc(grpcStatus)))) {
      const controller = this.controller;
      if (this.retryByPolicy()) {
        // this response is dropped: the next try answers instead
        controller?.abort(upstreamProtocolError(`status ${status} retried`));
        return;
      }
      if (this.retriesDone > 0) this.owner.addFlags(FLAG_URX);
    }
    this.delivered = true;
    this.owner.onAttemptHeaders(status, raw, this.controller as UpstreamController);
  }

  // (a try whose response was dropped for a retry was aborted: whatever it still reports is not the response)
  onUpstreamData(chunk: Buffer): void {
    if (this.delivered && !this.done) this.owner.onAttemptData(chunk);
  }

  onUpstreamReadEnd(): void {
    if (this.delivered && !this.done) this.owner.onAttemptReadEnd();
  }

  onUpstreamTrailers(trailers: string[]): void {
    if (!this.delivered || this.done) return;
    if (this.grpcPending) this.grpcResult(rawGrpcStatus(trailers));
    this.owner.onAttemptTrailers(trailers);
  }

  onUpstreamEnd(): void {
    this.terminal = true;
    if (!this.delivered || this.done) return;
    if (this.grpcPending) this.grpcResult(-1); // no grpc-status at all: UNKNOWN
    this.tEnd = now();
    this.owner.onAttemptEnd();
  }

  onUpstreamError(err: ProxyError): void {
    this.terminal = true;
    this.tEnd = now();
    if (this.done) return;
    if (err.detail !== '') this.failDetail = err.detail;
    if (this.delivered) return this.owner.onAttemptError(err);
    this.clearTryTimer();
    if (err.source === 'upstream') this.reportLocalFailure();
    if (this.retryBeforeRequest(err)) return;
    this.onTryFailed(err);
  }

  /** Outlier detection hears a gRPC response's status once it is known (-1: none came, UNKNOWN). */
  private grpcResult(grpcStatus: number): void {
    this.grpcPending = false;
    const ep = this.endpoint;
    const outlier = this.cluster.outlier;
    if (ep !== null && outlier !== null) outlier.onStatus(ep, grpcToHttpStatus(grpcStatus < 0 ? GRPC_UNKNOWN : grpcStatus));
  }
}

/** grpc-status in a raw header list (names in any case), -1 when absent or not a number. */
function rawGrpcStatus(raw: string[]): number {
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i] as string;
    if (name.length === 11 && name.toLowerCase() === 'grpc-status') return parseGrpcStatus(raw[i + 1]);
  }
  return -1;
}

function retryAfterBackoff(a: UpstreamAttempt): void {
  a.retryNow();
}

function onTryTimeout(a: UpstreamAttempt): void {
  a.tryTimedOut();
}

/** retired attempts of this worker (UpstreamAttempt.retire()) */
const FREE: UpstreamAttempt[] = [];
const FREE_MAX = 256;

/**
 * A retired attempt to reuse (its `request` is free to be built into: buildUpstreamRequest's
 * `into`), then made new with reuse(); null when the pool is empty.
 */
export function takeAttempt(): UpstreamAttempt | null {
  return FREE.pop() ?? null;
}
