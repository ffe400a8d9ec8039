// The load scenarios run by load/run.ts: upstreams, config fixtures (load/config/), the mid-run
// action and the pass/fail checks. Each has a k6 twin (load/<name>.k6.js) with the same thresholds.
import { count, failed, maxCheck, minus, pct, shareCheck, type Check, type Observed } from './summary.js';
import type { UpstreamSpec } from './upstreams.js';

export interface Scenario {
  name: string;
  summary: string;
  host: string;
  path: string;
  upstreams: UpstreamSpec[];
  /** config files (repo-relative; {{NAME_PORT}} and {{LISTEN_PORT}} filled in) */
  files: string[];
  /** files given to `meshlet apply` halfway through the run */
  applyMidRun?: string[];
  meshletArgs: string[];
  /** count client responses at least this slow (ms) */
  slowMs?: number;
  checks(o: Observed): Check[];
}

const product = (name: string, version: string): UpstreamSpec => ({ name, service: 'product-service', version });
const inventory = (name: string, failing = false): UpstreamSpec => ({ name, service: 'inventory-service', version: 'v1', failing });
const SEED = ['load/config/sidecar.yaml', 'load/config/product-service-entry.yaml', 'src/demo/seed-canary.yaml'];

function actionCheck(o: Observed): Check[] {
  return o.action === null ? [] : [{ name: 'mid-run apply', value: o.action.ok ? 'ok' : 'failed', want: 'ok', pass: o.action.ok }];
}

/** v2's share of what v1 and v2 received */
function v2Share(name: string, counts: Record<string, number>, lo: number, hi: number): Check {
  return shareCheck(name, counts.V2 ?? 0, (counts.V1 ?? 0) + (counts.V2 ?? 0), lo, hi);
}

export const SCENARIOS: Scenario[] = [
  {
    name: 'canary',
    summary: "the seed's 90/10 canary: v2 gets 7–13% of requests, < 0.1% failed",
    host: 'product-service', path: '/products/1',
    upstreams: [product('V1', 'v1'), product('V2', 'v2')],
    files: SEED, meshletArgs: [],
    checks: (o) => [
      v2Share('v2 share (upstream counts)', o.upstreams, 7, 13),
      ...(o.client === null ? [] : [shareCheck('failed requests', failed(o.client), o.client.requests, 0, 0.1)]),
    ],
  },
  {
    name: 'reload',
    summary: 'the seed canary, moved to 50/50 by `meshlet apply` halfway: zero failed requests',
    host: 'product-service', path: '/products/1',
    upstreams: [product('V1', 'v1'), product('V2', 'v2')],
    files: SEED,
    applyMidRun: ['load/config/sidecar.yaml', 'load/config/product-service-entry.yaml', 'load/config/reload-50-50.yaml'],
    meshletArgs: [],
    checks: (o) => {
      const before = o.upstreamsBeforeAction ?? {};
      return [
        ...actionCheck(o),
        ...(o.client === null ? [] : [maxCheck('failed requests', failed(o.client), 0)]),
        v2Share('v2 share before the apply', before, 4, 16),
        v2Share('v2 share after the apply', minus(o.upstreams, before), 40, 60),
      ];
    },
  },
  {
    name: 'fault',
    summary: 'VirtualService fault: 10% aborted with 503, 10% delayed 100 ms; observed abort and delay shares ≈ 10%',
    host: 'product-service', path: '/products/1',
    upstreams: [product('V1', 'v1'), product('V2', 'v2')],
    files: ['load/config/sidecar.yaml', 'load/config/product-service-entry.yaml', 'load/config/fault.yaml'],
    meshletArgs: [], slowMs: 100,
    checks: (o) => {
      // meshlet's DI flag says which requests it delayed (an aborted one is flagged FI instead); the client
      // must have seen at least those as ≥ 100 ms: queueing on a busy machine can only add slow ones
      const di = o.meshlet?.byFlags.DI ?? 0;
      const all = o.meshlet?.requests ?? 0;
      return [
        shareCheck('delayed share (meshlet DI flag)', di, all, 6, 13),
        ...(o.client === null ? [] : [
          shareCheck('aborted share (client 503s)', count(o.client, 503), o.client.requests, 7, 13),
          { name: 'client saw the delays (≥ 100 ms)', value: `${o.client.slow} (${pct(o.client.slow, o.client.requests).toFixed(2)}%)`, want: `≥ 0.9 × ${di} DI`, pass: o.client.slow >= 0.9 * di && di > 0 },
          maxCheck('other failures', failed(o.client, [503]), 0),
        ]),
      ];
    },
  },
  {
    name: 'upstream-failure',
    summary: 'one of 4 endpoints answers 503; retries (attempts 3, retryOn 5xx) keep ≥ 99.9% successful',
    host: 'inventory-service', path: '/items/1',
    upstreams: [inventory('OK1'), inventory('OK2'), inventory('OK3'), inventory('FAILING', true)],
    files: ['load/config/sidecar.yaml', 'load/config/upstream-failure.yaml'],
    meshletArgs: [],
    checks: (o) => [
      { name: 'failing endpoint was hit', value: String(o.upstreams.FAILING ?? 0), want: '> 0', pass: (o.upstreams.FAILING ?? 0) > 0 },
      ...(o.client === null ? [] : [shareCheck('successful requests', o.client.requests - failed(o.client), o.client.requests, 99.9, 100)]),
    ],
  },
];
