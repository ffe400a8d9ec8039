// The HTTP filter chain with a stub request context: what each filter does (authz denies and stops,
// a fault delay waits then resumes, an abort stops, header operations apply), the order set in
// chain.ts, a plain route's null chain, and the per-filter counters.
import type { JwtAuth } from '../../../src/filters/jwt/auth.js';
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { FaultSpec, HeaderOpsSpec } from '../../../src/config/snapshot.js';
import { AuthzFilter } from '../../../src/filters/authz/filter.js';
import { CONTINUE, FilterStats, STOP, WAIT, routeChain, type FilterChain, type FilterContext } from '../../../src/filters/chain.js';
import { FaultFilter } from '../../../src/filters/fault/filter.js';
import { RequestHeadersFilter } from '../../../src/filters/headers/filter.js';
import type { ProxyError } from '../../../src/http/errors.js';
import type { CompiledRoute } from '../../../src/routing/route.js';
import { FLAG_DI, flagNames } from '../../../src/stats/flags.js';
import { evaluator, policy } from '../authz/helpers.js';

/** A request as filters see it, recording what they did to it; runs a chain the way the exchange does. */
class Ctx implements FilterContext {
  method = 'GET';
  path = '/';
  query = '';
  authority = 'svc';
  scheme = 'http';
  headers: string[] = ['host', 'svc', 'x-drop', '1'];
  listenerPort = 9080;
  peerPrincipal: string | null = null;
  sourceIp = '10.0.0.1';
  destinationRequestOps: HeaderOpsSpec | null = null;
  auth: JwtAuth | null = null;
  auditPolicy: string | null = null;
  flags = 0;
  failed: ProxyError | null = null;
  forwarded = false;
  ended = false;
  private at = 0;
  private forwardedResolve: () => void = () => {};
  readonly done = new Promise<void>((r) => { this.forwardedResolve = r; });
  constructor(private readonly chain: FilterChain | null) {}
  run(from = 0): void {
    const chain = this.chain ?? [];
    for (let i = from; i < chain.length; i++) {
      const s = (chain[i] as FilterChain[number]).onRequest(this);
      if (s === CONTINUE) continue;
      if (s === WAIT) this.at = i + 1;
      if (s === STOP) this.forwardedResolve();
      return;
    }
    this.forwarded = true;
    this.forwardedResolve();
  }
  addFlags(bits: number): void { this.flags |= bits; }
  fail(err: ProxyError): void { this.failed = err; this.ended = true; }
  resumeFilters(): void { this.run(this.at); }
}

const NO_OPS: HeaderOpsSpec = { set: [], add: [], remove: [] };

function fault(spec: Partial<FaultSpec>): FaultSpec {
  return { delay: null, abort: null, ...spec } as FaultSpec;
}

function route(spec: { fault?: FaultSpec | null; requestHeaders?: HeaderOpsSpec | null; destOps?: HeaderOpsSpec | null }): CompiledRoute {
  return {
    spec: { fault: spec.fault ?? null, requestHeaders: spec.requestHeaders ?? null },
    destinations: [{ spec: { headers: spec.destOps === undefined ? null : { request: spec.destOps, response: null } } }],
  } as unknown as CompiledRoute;
}

test('a plain route has no chain: the request goes straight to the upstream', () => {
  assert.equal(routeChain(route({}), new FilterStats()), null);
});

test('authz: a DENY stops the request with 403 RBAC; an allowed one continues; both are counted', () => {
  const stats = new FilterStats();
  const ev = evaluator(policy('deny-admin', 'action: DENY\nrules: [{to: [{operation: {paths: ["/admin*"]}}]}]'));
  assert.ok(ev);
  const chain = [new AuthzFilter(ev, stats)];
  const denied = new Ctx(chain);
  denied.path = '/admin/x';
  denied.run();
  assert.equal(denied.forwarded, false);
  assert.equal(denied.failed?.status, 403);
  assert.equal(flagNames(denied.failed?.flag ?? 0), 'RBAC');
  const allowed = new Ctx(chain);
  allowed.run();
  assert.equal(allowed.forwarded, true);
  assert.deepEqual(stats.snapshot(), [['authz', 'allowed', 1], ['authz', 'denied', 1]]);
});

test('fault: the delay waits (DI), then the abort decision, then the rest of the chain', async () => {
  const stats = new FilterStats();
  const r = route({
    fault: fault({ delay: { percent: 100, fixedDelayMs: 20 } as FaultSpec['delay'] }),
    requestHeaders: { set: [['x-set', 'v']], add: [], remove: ['x-drop'] },
  });
  const chain = routeChain(r, stats);
  assert.deepEqual(chain?.map((f) => f.name), ['fault', 'headers'], 'the order chain.ts documents');
  const ctx = new Ctx(chain);
  const t0 = performance.now();
  ctx.run();
  assert.equal(ctx.forwarded, false, 'waiting out the delay');
  await ctx.done;
  assert.ok(performance.now() - t0 >= 15);
  assert.equal(ctx.forwarded, true);
  assert.equal(ctx.flags, FLAG_DI);
  assert.deepEqual(ctx.headers, ['host', 'svc', 'x-set', 'v'], 'the headers filter ran after the delay');
  assert.deepEqual(stats.snapshot().filter(([f]) => f === 'fault'), [['fault', 'delay', 1], ['fault', 'abort', 0]]);
});

test('fault: an abort stops the chain with its status (FI); a request that ended during a delay is let go', async () => {
  const stats = new FilterStats();
  const abort = new Ctx([new FaultFilter(fault({ abort: { percent: 100, httpStatus: 418 } as FaultSpec['abort'] }), stats)]);
  abort.run();
  assert.equal(abort.failed?.status, 418);
  assert.equal(flagNames(abort.failed?.flag ?? 0), 'FI');
  const gone = new Ctx([new FaultFilter(fault({ delay: { percent: 100, fixedDelayMs: 5 } as FaultSpec['delay'] }), stats)]);
  gone.run();
  gone.ended = true; // the client left
  await new Promise((r) => setTimeout(r, 20));
  assert.equal(gone.forwarded, false);
});

test('headers: the destination\'s request operations first, then the rule\'s', () => {
  const r = route({ requestHeaders: { set: [['x-order', 'route']], add: [], remove: [] }, destOps: { set: [['x-order', 'dest'], ['x-dest', '1']], add: [], remove: [] } });
  const chain = routeChain(r, new FilterStats());
  const ctx = new Ctx(chain);
  ctx.destinationRequestOps = { set: [['x-order', 'dest'], ['x-dest', '1']], add: [], remove: [] };
  ctx.run();
  assert.equal(ctx.forwarded, true);
  const value = (name: string): string | undefined => ctx.headers[ctx.headers.indexOf(name) + 1];
  assert.equal(value('x-order'), 'route', 'the rule\'s set wins over the destination\'s');
  assert.equal(value('x-dest'), '1');
  assert.deepEqual(new RequestHeadersFilter(NO_OPS, new FilterStats()).onRequest(new Ctx(null)), CONTINUE);
});
