// A pool's one timer for its idle, connect and queue timeouts (h1 and h2 pools): it runs only while
// the pool has connections, at an eighth of the shortest timeout (5 ms..1 s), so a timeout fires
// within [t, t + t/8] and nothing is allocated per request for timing.
import type { PoolOptions } from './codec.js';

export class PoolSweep {
  private timer: NodeJS.Timeout | null = null;
  private readonly everyMs: number;
  private readonly tick: () => void;

  constructor(options: Pick<PoolOptions, 'idleTimeoutMs' | 'connectTimeoutMs' | 'queueTimeoutMs'>, tick: () => void) {
    const shortest = Math.min(positiveOr(options.idleTimeoutMs), positiveOr(options.connectTimeoutMs), positiveOr(options.queueTimeoutMs));
    this.everyMs = Math.max(5, Math.min(1000, Math.floor(shortest / 8)));
    this.tick = tick;
  }

  start(): void {
    if (this.timer !== null) return;
    this.timer = setInterval(this.tick, this.everyMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer === null) return;
    clearInterval(this.timer);
    this.timer = null;
  }
}

function positiveOr(ms: number): number {
  return ms > 0 ? ms : 8000;
}
