// DestinationRule connectionPool limits, sidecar-wide: a request holds one "active" unit of its
// cluster from dispatch to finish (over HTTP/1.1 that is one upstream connection in use; over
// HTTP/2 one stream, bounded by http2MaxRequests only). Beyond
// tcp.maxConnections it waits, up to http1MaxPendingRequests waiting sidecar-wide; beyond that, or
// beyond http2MaxRequests in flight, it is refused at once with 503 UO. Waiting requests are
// admitted FIFO by this worker when one of its own requests to the cluster finishes, or by a short
// poll when the free unit was released by another worker.
import type { PoolSpec } from '../../config/snapshot.js';
import { C_ACTIVE, C_OVERFLOW, C_PENDING, C_RETRIES, C_RETRY_OVERFLOW, type SharedUpstreamState } from './layout.js';

export interface AdmissionWaiter {
  /** the request may go now (called once, from a timer or another request's finish) */
  admitted(): void;
}

export const ADMITTED = 1;
export const QUEUED = 0;
export const OVERFLOW = -1;

const POLL_MS = 2;

/** A limit an Int32 counter can reach; larger ones (Istio's 2^32-1 default) never bind. */
export function binds(limit: number): boolean {
  return limit < 0x7fffffff;
}

export class Admission {
  private readonly i32: Int32Array;
  private readonly cl: number;
  private readonly maxConnections: number;
  private readonly maxRequests: number;
  private readonly maxPending: number;
  private readonly maxRetries: number;
  private queue: (AdmissionWaiter | null)[] = [];
  private head = 0;
  private timer: NodeJS.Timeout | null = null;

  /** `http2`: requests are streams sharing connections, so only http2MaxRequests bounds them (the pool caps connections) */
  constructor(state: SharedUpstreamState, clusterSlot: number, pool: PoolSpec, http2 = false) {
    this.i32 = state.i32;
    this.cl = state.cl(clusterSlot);
    this.maxConnections = http2 ? pool.maxRequests : pool.maxConnections;
    this.maxRequests = pool.maxRequests;
    this.maxPending = pool.maxPendingRequests;
    this.maxRetries = pool.maxRetries;
  }

  /** ADMITTED (call release() when done), QUEUED (admitted() follows, or cancel()), or OVERFLOW. */
  tryAdmit(w: AdmissionWaiter): number {
    if (this.head === this.queue.length && this.takeUnit()) return ADMITTED;
    if (Atomics.load(this.i32, this.cl + C_ACTIVE) >= this.maxRequests) return this.overflow();
    const pending = Atomics.add(this.i32, this.cl + C_PENDING, 1);
    if (pending >= this.maxPending) {
      Atomics.sub(this.i32, this.cl + C_PENDING, 1);
      return this.overflow();
    }
    this.queue.push(w);
    if (this.timer === null) this.timer = setInterval(pollAdmission, POLL_MS, this);
    return QUEUED;
  }

  /** A waiting request gave up (timeout, client gone). */
  cancel(w: AdmissionWaiter): void {
    const i = this.queue.indexOf(w, this.head);
    if (i < 0) return;
    this.queue[i] = null;
    Atomics.sub(this.i32, this.cl + C_PENDING, 1);
    this.pump();
  }

  release(): void {
    Atomics.sub(this.i32, this.cl + C_ACTIVE, 1);
    this.pump();
  }

  /**
   * A proxied connection (TCP, WebSocket) holds one unit for its lifetime: it takes one now or
   * overflows (UO) at once, never waiting (Envoy's tcp_proxy). Give it back with release().
   */
  tryConnection(): boolean {
    if (this.takeUnit()) return true;
    this.overflow();
    return false;
  }

  /** A retry may start when fewer than maxRetries are in flight; hold it until releaseRetry(). */
  tryRetry(): boolean {
    if (!binds(this.maxRetries)) return true;
    if (Atomics.add(this.i32, this.cl + C_RETRIES, 1) >= this.maxRetries) {
      Atomics.sub(this.i32, this.cl + C_RETRIES, 1);
      Atomics.add(this.i32, this.cl + C_RETRY_OVERFLOW, 1);
      return false;
    }
    return true;
  }

  releaseRetry(): void {
    if (binds(this.maxRetries)) Atomics.sub(this.i32, this.cl + C_RETRIES, 1);
  }

  pump(): void {
    const q = this.queue;
    while (this.head < q.length) {
      const w = q[this.head];
      if (w === null) {
        this.head++;
        continue;
      }
      if (!this.takeUnit()) break;
      q[this.head++] = null;
      Atomics.sub(this.i32, this.cl + C_PENDING, 1);
      (w as AdmissionWaiter).admitted();
    }
    if (this.head === q.length) {
      q.length = 0;
      this.head = 0;
      if (this.timer !== null) {
        clearInterval(this.timer);
        this.timer = null;
      }
    }
  }

  private takeUnit(): boolean {
    const limit = Math.min(this.maxConnections, this.maxRequests);
    const i = this.cl + C_ACTIVE;
    for (;;) {
      const a = Atomics.load(this.i32, i);
      if (a >= limit) return false;
      if (Atomics.compareExchange(this.i32, i, a, a + 1) === a) return true;
    }
  }

  private overflow(): number {
    Atomics.add(this.i32, this.cl + C_OVERFLOW, 1);
    return OVERFLOW;
  }
}

function pollAdmission(a: Admission): void {
  a.pump();
}
