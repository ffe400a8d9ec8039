// VirtualService `fault` as a filter of the outbound chain, in Envoy's order: the delay first (the
// request waits, DI), then the abort (FI, the upstream is never contacted). Delayed requests are
// capped per worker (fault.ts) so a fault cannot pile up unbounded timers and bodies.
import { faultAbort } from '../../http/errors.js';
import type { FaultSpec } from '../../config/snapshot.js';
import { FLAG_DI } from '../../stats/flags.js';
import { CONTINUE, STOP, WAIT, type FilterContext, type FilterStats, type FilterStatus, type HttpFilter } from '../chain.js';
import { acquireDelaySlot, releaseDelaySlot, roll } from './fault.js';

export class FaultFilter implements HttpFilter {
  readonly name = 'fault';
  private readonly spec: FaultSpec;
  private readonly delays: () => void;
  private readonly aborts: () => void;

  constructor(spec: FaultSpec, stats: FilterStats) {
    this.spec = spec;
    this.delays = stats.counter('fault', 'delay');
    this.aborts = stats.counter('fault', 'abort');
  }

  onRequest(ctx: FilterContext): FilterStatus {
    const delay = this.spec.delay;
    if (delay !== null && roll(delay.percent) && acquireDelaySlot()) {
      this.delays();
      ctx.addFlags(FLAG_DI);
      setTimeout(afterDelay, delay.fixedDelayMs, this, ctx);
      return WAIT;
    }
    const abort = this.spec.abort;
    if (abort !== null && roll(abort.percent)) {
      this.aborts();
      ctx.fail(faultAbort(abort.httpStatus, abort.grpcStatus));
      return STOP;
    }
    return CONTINUE;
  }

  /** The delay is over: the abort decision, then the rest of the chain (unless the request ended meanwhile). */
  afterDelay(ctx: FilterContext): void {
    releaseDelaySlot();
    if (ctx.ended) return;
    const abort = this.spec.abort;
    if (abort !== null && roll(abort.percent)) {
      this.aborts();
      ctx.fail(faultAbort(abort.httpStatus, abort.grpcStatus));
      return;
    }
    ctx.resumeFilters();
  }
}

function afterDelay(filter: FaultFilter, ctx: FilterContext): void {
  filter.afterDelay(ctx);
}
