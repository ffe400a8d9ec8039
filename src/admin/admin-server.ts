// The admin endpoint (loopback by default): /ready for probes, stats (Prometheus text with Istio's
// names, HDR histograms, latency plot SVG), /config_dump, /clusters, /workers, and a crash drill for one worker.
// Requests a web page could have sent (foreign Host, simple cross-site POST) are refused first (request-guard.ts).
// Admin traffic is rare and small: plain node:http and JSON are fine here, never on the data path.
import http from 'node:http';
import type { ConfigStore } from '../control/config-store.js';
import type { StatsService } from '../stats/stats-service.js';
import type { Supervisor } from '../control/supervisor.js';
import { PROMETHEUS_CONTENT_TYPE } from '../stats/prometheus.js';
import { endpointKey } from '../upstream/endpoint.js';
import { clusterCounters, endpointState } from '../upstream/shared/report.js';
import { adminRefusal } from './request-guard.js';

export interface AdminContext {
  supervisor: Supervisor;
  store: ConfigStore;
  stats: StatsService;
}

const ENDPOINTS = '/ready /workers /stats/prometheus /stats/histograms[?interval=1] /stats/plot[?interval=1&by=series] POST /stats/histograms/reset /config_dump /clusters POST /workers/N/crash';

type Send = (status: number, body: string, type?: string) => void;

function json(send: Send, value: unknown): void {
  send(200, `${JSON.stringify(value, null, 2)}\n`, 'application/json');
}

function clusters(ctx: AdminContext): unknown {
  const snap = ctx.store.snapshot;
  if (snap === null) return [];
  const gauges = ctx.stats.endpointGauges();
  const shared = ctx.supervisor.upstream.state;
  return snap.clusters.map((c) => ({
    name: c.name, host: c.host, subset: c.subset, port: c.port, lb: c.lb, hash: c.hash, warmupMs: c.warmupMs,
    connectionPool: c.pool, outlierDetection: c.outlier, counters: clusterCounters(shared, c),
    endpoints: c.endpoints.map((e) => {
      const address = endpointKey(e.address, e.port);
      const g = gauges.get(address);
      const s = endpointState(shared, e.slot);
      return {
        address, labels: e.labels, weight: e.weight, inflight: g?.inflight ?? 0, connections: g?.connections ?? 0,
        health: s?.ejected === true ? 'ejected' : 'healthy', ...(s === null ? {} : { outlier: s }),
      };
    }),
  }));
}

/** The process's RSS (every thread) and the control thread's own V8 heap, in MB. */
function processMemory(): { rssMb: number; controlHeapMb: { used: number; committed: number } } {
  const m = process.memoryUsage();
  const mb = (b: number): number => Math.round(b / 10485.76) / 100;
  return { rssMb: mb(m.rss), controlHeapMb: { used: mb(m.heapUsed), committed: mb(m.heapTotal) } };
}

function route(ctx: AdminContext, method: string, url: URL, send: Send): void | Promise<void> {
  const post = method === 'POST';
  switch (url.pathname) {
    case '/ready': return ctx.supervisor.allReady ? send(200, 'LIVE\n') : send(503, 'NOT READY\n');
    case '/workers': return json(send, { generation: ctx.store.generation, process: processMemory(), workers: ctx.supervisor.status() });
    case '/stats/prometheus': return send(200, ctx.stats.prometheus(), PROMETHEUS_CONTENT_TYPE);
    case '/stats/histograms': return ctx.stats.histograms(url.searchParams.get('interval') === '1' ? 'interval' : 'cumulative').then((r) => json(send, r));
    case '/stats/plot': {
      const by = url.searchParams.get('by') ?? 'route';
      if (by !== 'route' && by !== 'series') return send(400, 'by: route or series\n');
      return ctx.stats.plot(url.searchParams.get('interval') === '1' ? 'interval' : 'cumulative', by).then((svg) => send(200, svg, 'image/svg+xml'));
    }
    case '/stats/histograms/reset':
      if (!post) return send(405, 'use POST\n');
      ctx.stats.reset();
      return send(200, 'reset\n');
    case '/config_dump': return json(send, { generation: ctx.store.generation, files: ctx.store.files, snapshot: ctx.store.snapshot });
    case '/clusters': return json(send, { generation: ctx.store.generation, clusters: clusters(ctx) });
    default: {
      const crash = /^\/workers\/(\d+)\/crash$/.exec(url.pathname);
      if (crash === null) return send(404, `admin endpoints: ${ENDPOINTS}\n`);
      if (!post) return send(405, 'use POST\n');
      const ok = ctx.supervisor.crash(Number(crash[1]));
      return send(ok ? 202 : 404, ok ? 'crashing\n' : 'no such worker\n');
    }
  }
}

export function startAdmin(host: string, port: number, ctx: AdminContext): Promise<http.Server> {
  const server = http.createServer((req, res) => {
    const send: Send = (status, body, type = 'text/plain; charset=utf-8') => {
      res.writeHead(status, { 'content-type': type, 'cache-control': 'no-store', 'x-content-type-options': 'nosniff' });
      res.end(body);
    };
    const refused = adminRefusal(req, host);
    if (refused !== null) return send(refused.status, refused.body);
    const failed = (err: Error): void => send(500, `admin error: ${err.message}\n`);
    try {
      route(ctx, req.method ?? 'GET', new URL(req.url ?? '/', 'http://admin'), send)?.catch(failed);
    } catch (err) {
      failed(err as Error);
    }
  });
  return new Promise((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) => reject(new Error(`admin ${host}:${port}: ${err.code === 'EADDRINUSE' ? 'already in use' : err.message}`)));
    server.listen(port, host, () => resolve(server));
  });
}
