// Sidecar-wide upstream state in one SharedArrayBuffer: every worker and the control thread see
// the same counters, so DestinationRule limits and outlier ejection hold for the whole sidecar,
// not once per worker. The control thread assigns slots (stable across config generations).
//
//   Int32 region   [cluster slots × C_FIELDS][endpoint slots × E_FIELDS]   (Atomics)
//   Float64 region [endpoint slots × 2]: ejected-at ms, first-seen ms      (written by one owner)
//
// An endpoint slot belongs to one (cluster, endpoint) pair, as Envoy keeps host state per cluster.

export const CLUSTER_SLOTS = 1024;
export const ENDPOINT_SLOTS = 16384;

// cluster fields
/** requests admitted and not finished (HTTP/1.1: one connection in use each) */
export const C_ACTIVE = 0;
/** requests waiting for a connection (http1MaxPendingRequests) */
export const C_PENDING = 1;
/** retries in flight (maxRetries) */
export const C_RETRIES = 2;
/** endpoints currently ejected */
export const C_EJECTED = 3;
/** bumped on every ejection and return: workers rebuild their healthy view when it moves */
export const C_VERSION = 4;
/** requests refused with 503 UO (totals, for metrics) */
export const C_OVERFLOW = 5;
/** retries not taken because maxRetries was reached */
export const C_RETRY_OVERFLOW = 6;
/** ejections enforced (total) */
export const C_EJECTIONS = 7;
export const C_FIELDS = 8;

// endpoint fields
export const E_CONSECUTIVE_5XX = 0;
export const E_CONSECUTIVE_GATEWAY = 1;
/** 1 while ejected */
export const E_EJECTED = 2;
/** ejections so far, decremented while healthy: ejection time = base × multiplier (Envoy) */
export const E_MULTIPLIER = 3;
/** requests in flight to this endpoint from this cluster, sidecar-wide (LEAST_REQUEST) */
export const E_ACTIVE = 4;
export const E_EJECTIONS = 5;
export const E_FIELDS = 8;

export const F_EJECTED_AT = 0;
export const F_FIRST_SEEN = 1;
export const F_FIELDS = 2;

const INT32_BYTES = (CLUSTER_SLOTS * C_FIELDS + ENDPOINT_SLOTS * E_FIELDS) * 4;
const F64_BYTES = ENDPOINT_SLOTS * F_FIELDS * 8;

/** Views over the shared buffer; `ep(slot)` / `cl(slot)` give the base index of a slot's fields. */
export class SharedUpstreamState {
  readonly buffer: SharedArrayBuffer;
  readonly i32: Int32Array;
  readonly f64: Float64Array;

  constructor(buffer?: SharedArrayBuffer) {
    this.buffer = buffer ?? new SharedArrayBuffer(INT32_BYTES + F64_BYTES);
    this.i32 = new Int32Array(this.buffer, 0, INT32_BYTES / 4);
    this.f64 = new Float64Array(this.buffer, INT32_BYTES, F64_BYTES / 8);
  }

  cl(slot: number): number {
    return slot * C_FIELDS;
  }

  ep(slot: number): number {
    return CLUSTER_SLOTS * C_FIELDS + slot * E_FIELDS;
  }

  fp(slot: number): number {
    return slot * F_FIELDS;
  }

  resetCluster(slot: number): void {
    this.i32.fill(0, this.cl(slot), this.cl(slot) + C_FIELDS);
  }

  resetEndpoint(slot: number, now: number): void {
    this.i32.fill(0, this.ep(slot), this.ep(slot) + E_FIELDS);
    this.f64[this.fp(slot) + F_EJECTED_AT] = 0;
    this.f64[this.fp(slot) + F_FIRST_SEEN] = now;
  }
}
