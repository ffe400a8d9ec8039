// The control thread's outlier-detection clock: at each cluster's interval, ejected endpoints
// whose time is over return and healthy ones lose a step of their ejection multiplier. Workers
// eject; only this returns endpoints, so a return happens once for the whole sidecar.
import type { Snapshot } from '../../config/snapshot.js';
import type { SharedUpstreamState } from './layout.js';
import { sweepCluster } from './outlier.js';

const MIN_TICK_MS = 50;

export class OutlierSweeper {
  private timer: NodeJS.Timeout | null = null;
  private snapshot: Snapshot | null = null;
  private readonly lastSweep = new Map<string, number>();
  /** endpoints returned to service so far (for logs/tests) */
  returned = 0;

  constructor(private readonly state: SharedUpstreamState) {}

  update(snapshot: Snapshot): void {
    this.snapshot = snapshot;
    const intervals = snapshot.clusters.filter((c) => c.outlier !== null && c.slot >= 0).map((c) => (c.outlier as { intervalMs: number }).intervalMs);
    this.stop();
    if (intervals.length === 0) return;
    const tick = Math.max(MIN_TICK_MS, Math.min(...intervals));
    this.timer = setInterval(() => this.sweep(Date.now()), tick);
    this.timer.unref();
  }

  sweep(now: number): void {
    const snap = this.snapshot;
    if (snap === null) return;
    for (const c of snap.clusters) {
      if (c.outlier === null || c.slot < 0) continue;
      const last = this.lastSweep.get(c.name) ?? 0;
      if (now - last < c.outlier.intervalMs) continue;
      this.lastSweep.set(c.name, now);
      this.returned += sweepCluster(this.state, c.outlier, c.slot, c.endpoints.map((e) => e.slot), now);
    }
  }

  stop(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
  }
}
