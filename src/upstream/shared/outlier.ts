// Outlier detection (DestinationRule outlierDetection), Envoy's consecutive-errors detectors on
// shared memory: any worker's result counts toward the endpoint's streak, the worker that sees the
// streak reach its threshold ejects the endpoint for every worker, and the control thread returns
// it when its ejection time (base × number of ejections) is over, at its interval ticks.
// Local-origin failures (connect failure, reset, timeout) count as 5xx and gateway errors, as in
// Envoy without split_external_local_origin_errors.
import type { OutlierSpec } from '../../config/snapshot.js';
import type { Endpoint } from '../endpoint.js';
import {
  C_EJECTED, C_EJECTIONS, C_VERSION, E_CONSECUTIVE_5XX, E_CONSECUTIVE_GATEWAY, E_EJECTED, E_EJECTIONS, E_MULTIPLIER,
  F_EJECTED_AT, type SharedUpstreamState,
} from './layout.js';

export class OutlierDetector {
  private readonly spec: OutlierSpec;
  private readonly state: SharedUpstreamState;
  private readonly i32: Int32Array;
  private readonly cl: number;
  /** endpoints the cluster has: at least one may be ejected whatever maxEjectionPercent says (Envoy) */
  private readonly maxEjected: number;

  constructor(spec: OutlierSpec, state: SharedUpstreamState, clusterSlot: number, endpointCount: number) {
    this.spec = spec;
    this.state = state;
    this.i32 = state.i32;
    this.cl = state.cl(clusterSlot);
    this.maxEjected = Math.max(1, Math.floor((endpointCount * spec.maxEjectionPercent) / 100));
  }

  /** An upstream answered with `status` (a response head arrived). */
  onStatus(ep: Endpoint, status: number): void {
    if (ep.base < 0) return;
    if (status >= 500) this.onError(ep, status === 502 || status === 503 || status === 504);
    else this.onSuccess(ep);
  }

  /** A try failed before a response: connect failure, reset or timeout. */
  onLocalFailure(ep: Endpoint): void {
    if (ep.base < 0) return;
    this.onError(ep, true);
  }

  private onSuccess(ep: Endpoint): void {
    const i32 = this.i32;
    if (Atomics.load(i32, ep.base + E_CONSECUTIVE_5XX) !== 0) Atomics.store(i32, ep.base + E_CONSECUTIVE_5XX, 0);
    if (Atomics.load(i32, ep.base + E_CONSECUTIVE_GATEWAY) !== 0) Atomics.store(i32, ep.base + E_CONSECUTIVE_GATEWAY, 0);
  }

  private onError(ep: Endpoint, gateway: boolean): void {
    const i32 = this.i32;
    const spec = this.spec;
    let trip = false;
    if (spec.consecutive5xx > 0 && Atomics.add(i32, ep.base + E_CONSECUTIVE_5XX, 1) + 1 >= spec.consecutive5xx) trip = true;
    if (spec.consecutiveGateway > 0) {
      if (gateway) {
        if (Atomics.add(i32, ep.base + E_CONSECUTIVE_GATEWAY, 1) + 1 >= spec.consecutiveGateway) trip = true;
      } else if (Atomics.load(i32, ep.base + E_CONSECUTIVE_GATEWAY) !== 0) {
        Atomics.store(i32, ep.base + E_CONSECUTIVE_GATEWAY, 0);
      }
    }
    if (trip) this.eject(ep);
  }

  private eject(ep: Endpoint): void {
    const i32 = this.i32;
    Atomics.store(i32, ep.base + E_CONSECUTIVE_5XX, 0);
    Atomics.store(i32, ep.base + E_CONSECUTIVE_GATEWAY, 0);
    if (Atomics.compareExchange(i32, ep.base + E_EJECTED, 0, 1) !== 0) return; // another worker did
    for (;;) {
      const ejected = Atomics.load(i32, this.cl + C_EJECTED);
      if (ejected >= this.maxEjected) {
        Atomics.store(i32, ep.base + E_EJECTED, 0); // maxEjectionPercent reached: stays in
        return;
      }
      if (Atomics.compareExchange(i32, this.cl + C_EJECTED, ejected, ejected + 1) === ejected) break;
    }
    this.state.f64[this.state.fp(ep.spec.slot) + F_EJECTED_AT] = Date.now();
    Atomics.add(i32, ep.base + E_MULTIPLIER, 1);
    Atomics.add(i32, ep.base + E_EJECTIONS, 1);
    Atomics.add(i32, this.cl + C_EJECTIONS, 1);
    Atomics.add(i32, this.cl + C_VERSION, 1);
  }
}

/** Envoy's max_ejection_time default: ejection time grows with each ejection up to 300 s (or base, if larger). */
const MAX_EJECTION_MS = 300_000;

/**
 * Control thread, at each interval: endpoints whose ejection time is over come back; endpoints
 * that stayed healthy through an interval lose one step of their ejection multiplier.
 * Returns how many endpoints came back.
 */
export function sweepCluster(state: SharedUpstreamState, spec: OutlierSpec, clusterSlot: number, endpointSlots: readonly number[], now: number): number {
  const i32 = state.i32;
  const cl = state.cl(clusterSlot);
  let returned = 0;
  for (const slot of endpointSlots) {
    if (slot < 0) continue;
    const base = state.ep(slot);
    const multiplier = Atomics.load(i32, base + E_MULTIPLIER);
    if (Atomics.load(i32, base + E_EJECTED) !== 0) {
      const at = state.f64[state.fp(slot) + F_EJECTED_AT] as number;
      const duration = Math.min(spec.baseEjectionMs * Math.max(1, multiplier), Math.max(MAX_EJECTION_MS, spec.baseEjectionMs));
      if (now - at >= duration) {
        Atomics.store(i32, base + E_EJECTED, 0);
        Atomics.sub(i32, cl + C_EJECTED, 1);
        Atomics.add(i32, cl + C_VERSION, 1);
        returned++;
      }
    } else if (multiplier > 0) {
      Atomics.sub(i32, base + E_MULTIPLIER, 1);
    }
  }
  return returned;
}
