// Route selection, a pure function of the compiled generation and the request: the virtual host
// for its Host, then the first rule whose matches hold (VirtualService order). The weighted
// destination is picked by the rule (CompiledRoute.pickDestination).
import type { RequestView } from './request-view.js';
import type { CompiledRoute } from './route.js';
import type { RouteTable } from './route-table.js';

/** Where the router writes the matched rule and which of its matches held (rewrite.uri needs it). */
export interface RouteMatch {
  route: CompiledRoute | null;
  matchIdx: number;
}

/** Fills `out` with the first rule that matches `req`; false (404 NR) when none does. */
export function matchRoute(table: RouteTable, req: RequestView, out: RouteMatch): boolean {
  const vh = table.find(req.authority);
  if (vh === null) return false;
  const routes = vh.routes;
  for (let i = 0; i < routes.length; i++) {
    const r = routes[i] as CompiledRoute;
    const idx = r.matchIndex(req);
    if (idx >= 0) {
      out.route = r;
      out.matchIdx = idx;
      return true;
    }
  }
  return false;
}
