// Request header operations (VirtualService `headers.request` of the chosen destination, then of
// the rule) as a filter of the outbound chain: set, add and remove on the request's headers before
// the upstream request is built. Response operations are applied where the response head is.
import { applyHeaderOps } from '../../http/header-ops.js';
import { CONTINUE, type FilterContext, type FilterStats, type FilterStatus, type HttpFilter } from '../chain.js';
import type { HeaderOpsSpec } from '../../config/snapshot.js';

export class RequestHeadersFilter implements HttpFilter {
  readonly name = 'headers';
  private readonly routeOps: HeaderOpsSpec | null;
  private readonly applied: () => void;

  constructor(routeOps: HeaderOpsSpec | null, stats: FilterStats) {
    this.routeOps = routeOps;
    this.applied = stats.counter('headers', 'request_modified');
  }

  onRequest(ctx: FilterContext): FilterStatus {
    const dest = ctx.destinationRequestOps;
    if (dest !== null) applyHeaderOps(ctx.headers, dest);
    if (this.routeOps !== null) applyHeaderOps(ctx.headers, this.routeOps);
    this.applied();
    return CONTINUE;
  }
}
