// VirtualService `fault`: delays (DI) and aborts (FI) injected for a percentage of requests.
// Delayed requests are capped per worker so a fault cannot pile up unbounded timers and bodies.

export const MAX_DELAYED_PER_WORKER = 10_000;

let delayed = 0;

/** true with probability percent/100 */
export function roll(percent: number): boolean {
  return percent >= 100 || (percent > 0 && Math.random() * 100 < percent);
}

/** Reserves a delay slot; false when the worker already holds the maximum of delayed requests. */
export function acquireDelaySlot(): boolean {
  if (delayed >= MAX_DELAYED_PER_WORKER) return false;
  delayed++;
  return true;
}

export function releaseDelaySlot(): void {
  delayed--;
}
