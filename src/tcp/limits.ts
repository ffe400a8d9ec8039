// What a proxied connection (TCP session, WebSocket tunnel) checks once a second: its idle
// timeout and maximum duration (connectionPool.tcp idleTimeout, default 1 h, and
// maxConnectionDuration), and whether its bytes are due in a periodic stats record.
import { DEFAULT_TCP_IDLE_TIMEOUT_MS, type PoolSpec } from '../config/snapshot.js';
import { tick } from '../downstream/clock.js';
import { KIND_CONN_BYTES } from '../stats/ring.js';
import { BYTES_REPORT_S, recordConnection, type ConnectionSource } from './record.js';
import type { Relay } from './relay.js';

export class ConnectionLimits {
  private readonly startTick = tick;
  /** idle and lifetime limits in ticks (whole seconds), 0 = none */
  private readonly idleTicks: number;
  private readonly maxTicks: number;
  private reportTick = tick;
  /** bytes already in a record */
  reportedIn = 0;
  reportedOut = 0;

  constructor(pool: PoolSpec) {
    const idleMs = pool.tcpIdleTimeoutMs ?? DEFAULT_TCP_IDLE_TIMEOUT_MS;
    this.idleTicks = idleMs > 0 ? Math.max(1, Math.ceil(idleMs / 1000)) : 0;
    const maxMs = pool.maxConnectionDurationMs ?? 0;
    this.maxTicks = maxMs > 0 ? Math.max(1, Math.ceil(maxMs / 1000)) : 0;
  }

  /** Once a second: false when the connection must be closed now; writes the bytes record when due. */
  check(now: number, relay: Relay, source: ConnectionSource): boolean {
    // (ticks are whole seconds: `>` never closes before the limit, at most a second after it)
    if ((this.idleTicks > 0 && now - relay.lastTick > this.idleTicks) || (this.maxTicks > 0 && now - this.startTick > this.maxTicks)) return false;
    if (now - this.reportTick >= BYTES_REPORT_S && (relay.bytesIn !== this.reportedIn || relay.bytesOut !== this.reportedOut)) {
      this.reportTick = now;
      recordConnection(source, KIND_CONN_BYTES, 0, relay.bytesIn - this.reportedIn, relay.bytesOut - this.reportedOut);
      this.reportedIn = relay.bytesIn;
      this.reportedOut = relay.bytesOut;
    }
    return true;
  }
}
