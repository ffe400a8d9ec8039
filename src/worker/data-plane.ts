// A data-plane worker: builds the generation, opens every listener, and drains on request.
import { performance } from 'node:perf_hooks';
import v8 from 'node:v8';
import type { MessagePort } from 'node:worker_threads';
import { configureWorkerLog, workerLog } from '../log.js';
import { loadCodec } from '../upstream/codecs.js';
import { SharedUpstreamState } from '../upstream/shared/layout.js';
import { PoolRegistry } from '../upstream/pool-registry.js';
import { createRing, RingWriter } from '../stats/ring.js';
import { createStringTable, StringTableWriter } from '../stats/strings.js';
import { PeerExchange } from '../telemetry/exchange.js';
import { RetryBudget } from '../filters/retry/retry-budget.js';
import { ClientTls } from '../tls/outbound/client-tls.js';
import { ServerTls } from '../tls/inbound/server-tls.js';
import { HandshakeStats } from '../tls/handshake-stats.js';
import type { WorkloadIdentity } from '../tls/identity/source.js';
import { Generation } from './generation.js';
import type { FromWorker, ToWorker, WorkerOptions } from './protocol.js';
import { H1Listener } from '../downstream/h1/listener.js';
import { lingeringConnections } from '../downstream/h1/linger.js';
import { TcpListener } from '../downstream/tcp/listener.js';
import { ListenerRuntime, WorkerState } from './worker-state.js';
import { FilterStats } from '../filters/chain.js';
import { JwksStore } from '../filters/jwt/keys.js';
import { loadJose } from '../filters/jwt/jose.js';

const GAUGES_EVERY_MS = 1000;
/** a draining worker reports quiet after this long with nothing in flight and no new request */
const QUIET_MS = 1000;
const QUIET_CHECK_MS = 100;
/** spans still queued at drain get this long to reach the collector */
const TRACE_FLUSH_MS = 1000;

function crashOnPurpose(): never {
  throw new Error('crash requested through the admin endpoint');
}

export async function runDataPlane(options: WorkerOptions, port: MessagePort): Promise<void> {
  const send = (msg: FromWorker): void => port.postMessage(msg);
  configureWorkerLog(options.logLevel);
  const registry = new PoolRegistry(await loadCodec(options.codec), {
    connections: options.connectionsPerEndpoint,
    queueTimeoutMs: options.upstreamQueueTimeoutMs,
    idleTimeoutMs: options.upstreamIdleTimeoutMs,
    connectTimeoutMs: options.connectTimeoutMs,
    maxRequestsPerConnection: 0,
  });
  const shared = new SharedUpstreamState(options.upstreamState);
  const ring = options.stats ? createRing() : null;
  const strings = options.stats ? createStringTable() : null;
  if (ring !== null && strings !== null) send({ type: 'ring', workerId: options.workerId, ring, strings });
  // loaded only when asked for (--access-log, or a Telemetry turning it on): a worker without access logs does not hold pino
  let accessLog = options.accessLog === null ? null : new (await import('../request/access-log.js')).AccessLog(options.accessLog, options.accessLogSample);
  /** a Telemetry (or an AUDIT policy) wants access logs: without --access-log, they go to stdout (Istio's envoy provider) */
  const ensureAccessLog = async (gen: Generation): Promise<void> => {
    if (accessLog !== null || !gen.wantsAccessLog) return;
    accessLog = new (await import('../request/access-log.js')).AccessLog('stdout', options.accessLogSample);
    state.accessLog = accessLog;
  };
  const handshakes = new HandshakeStats();
  let clientTls: ClientTls | null = null;
  if (options.identity !== null) {
    clientTls = new ClientTls(handshakes);
    clientTls.update(options.identity);
  }
  const filterStats = new FilterStats();
  const workload = options.workload;
  if (options.snapshot.jwtRules !== undefined || options.jwks.length > 0) await loadJose();
  const jwks = new JwksStore(options.jwks);
  const state = new WorkerState(new Generation(options.snapshot, registry, shared, clientTls, filterStats, workload, jwks), ring === null ? null : new RingWriter(ring, true), accessLog,
    new RetryBudget(options.retryBudgetRatio, options.retryBudgetMinPerSecond), filterStats);
  state.jwks = jwks;
  state.mx = new PeerExchange(options.peerMetadata, strings === null ? null : new StringTableWriter(strings));
  state.accessLogFlag = options.accessLog !== null;
  await ensureAccessLog(state.gen);
  state.clientTls = clientTls;
  if (options.inboundTls.some((mode) => mode !== null)) state.serverTls = new ServerTls(options.identity, options.ticketKeys, handshakes);
  state.pathNormalization = options.pathNormalization;
  state.connectTimeoutMs = options.connectTimeoutMs;
  if (options.tracing !== null) {
    // loaded only when asked for, like the access log
    const { Tracer } = await import('../tracing/tracer.js');
    const collector = options.tracing.endpoint;
    state.tracer = new Tracer(options.tracing, (err, dropped, suppressed) => workerLog().warn(
      { collector, err: err.message, dropped, failuresNotLogged: suppressed }, 'trace export failed; spans dropped'));
    state.tracer.configure(state.gen.telemetry.tracing);
  }
  /** A new generation serves once what it needs is ready (jose, the access log, the tracer's sampling); then it is acknowledged. */
  let applying: Promise<void> = Promise.resolve();
  const useGeneration = (gen: Generation, ack: boolean): void => {
    applying = applying.then(async () => {
      if (gen.snapshot.jwtRules !== undefined) await loadJose();
      await ensureAccessLog(gen);
      state.tracer?.configure(gen.telemetry.tracing);
      state.gen = gen;
      if (ack) send({ type: 'applied', workerId: options.workerId, generation: gen.id });
    }).catch((err: unknown) => workerLog().error({ err: (err as Error).message }, 'generation not applied'));
  };
  const listeners = options.snapshot.listeners.map((spec, i) => {
    const runtime = new ListenerRuntime(spec, state, i, options.inboundTls[i] ?? null);
    return spec.traffic === 'tcp' || spec.traffic === 'tls' ? new TcpListener(runtime) : new H1Listener(runtime, options.h1);
  });
  try {
    await Promise.all(listeners.map((l) => l.listen()));
  } catch (err) {
    for (const l of listeners) l.close();
    send({ type: 'fatal', workerId: options.workerId, message: (err as Error).message });
    return;
  }

  // A crash closes every listener and connection first (clients see a close, not a hang), then
  // exits the thread; the supervisor respawns it while the other workers keep serving.
  const crash = (err: unknown): void => {
    send({ type: 'crashed', workerId: options.workerId, message: err instanceof Error ? err.stack ?? err.message : String(err) });
    for (const l of listeners) l.close();
    state.accessLog?.flush();
    state.stats?.flush();
    void registry.destroyAll();
    process.exit(70);
  };
  process.on('uncaughtException', crash);
  process.on('unhandledRejection', crash);

  port.on('message', (msg: ToWorker) => {
    if (msg.type === 'drain') void drain(msg.timeoutMs);
    else if (msg.type === 'drain-inbound') drainInbound();
    else if (msg.type === 'identity') applyIdentity(msg.identity, msg.ticketKeys);
    else if (msg.type === 'snapshot') useGeneration(new Generation(msg.snapshot, registry, shared, state.clientTls, filterStats, workload, jwks), true);
    else if (msg.type === 'jwks') void loadJose().then(() => jwks.update(msg.update)); // in arrival order: one promise
    else if (msg.type === 'crash') setImmediate(crashOnPurpose);
  });
  send({ type: 'ready', workerId: options.workerId, generation: options.snapshot.generation });
  const sendGauges = (): void => {
    const byKey = new Map<string, [string, number, number]>();
    const pools = new Set<unknown>();
    for (const c of state.gen.clusters) {
      for (const ep of c.endpoints) {
        let g = byKey.get(ep.key);
        if (g === undefined) byKey.set(ep.key, (g = [ep.key, 0, 0]));
        g[1] += ep.inflight;
        if (!pools.has(ep.pool)) {
          pools.add(ep.pool);
          g[2] += ep.pool.connectionCount;
        }
      }
    }
    const endpoints = [...byKey.values()];
    const tracer = state.tracer;
    const heap = v8.getHeapStatistics();
    send({ type: 'gauges', workerId: options.workerId, report: {
      inflight: state.inflight, endpoints, trace: tracer === null ? null : [tracer.exported, tracer.dropped], filters: filterStats.snapshot(),
      tls: handshakes.snapshot(), heap: [heap.used_heap_size, heap.total_heap_size], lingering: lingeringConnections(),
    } });
  };
  const gauges = setInterval(sendGauges, GAUGES_EVERY_MS);
  gauges.unref();

  let quietCheck: NodeJS.Timeout | undefined;

  /**
   * Rotation: new handshakes of the mTLS listeners present the new certificate (and issue tickets
   * under the new keys); one new client secure context for new upstream connections. Open
   * connections, inbound and outbound, keep theirs. The first identity rebuilds the generation so
   * ISTIO_MUTUAL clusters get their mTLS pools. The control thread hears when it is in force.
   */
  function applyIdentity(identity: WorkloadIdentity, ticketKeys: Uint8Array): void {
    let refused: string | null = null;
    try {
      state.serverTls?.update(identity, ticketKeys);
      const first = state.clientTls === null;
      const next = state.clientTls ?? new ClientTls(handshakes);
      next.update(identity);
      if (first) {
        state.clientTls = next;
        useGeneration(new Generation(state.gen.snapshot, registry, shared, next, filterStats, workload, jwks), false);
      }
    } catch (err) {
      refused = (err as Error).message;
      workerLog().error({ err: refused }, 'identity update refused; the previous identity stays');
    }
    send({ type: 'identity-applied', workerId: options.workerId, spiffeId: identity.spiffeId, refused });
  }

  /** Inbound stops accepting; outbound keeps serving the app while it shuts down. */
  function drainInbound(): void {
    if (state.draining) return;
    state.draining = true;
    for (const l of listeners) if (l.runtime.inbound) l.stopAccepting();
    quietCheck = setInterval(() => {
      if (state.inflight === 0 && performance.now() - state.lastStart >= QUIET_MS) {
        clearInterval(quietCheck);
        send({ type: 'quiet', workerId: options.workerId });
      }
    }, QUIET_CHECK_MS);
    quietCheck.unref();
  }

  async function drain(timeoutMs: number): Promise<void> {
    state.draining = true;
    clearInterval(gauges);
    clearInterval(quietCheck); // the final drain supersedes the quiet watch
    for (const l of listeners) l.stopAccepting();
    if (state.inflight > 0) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, timeoutMs);
        state.onIdle = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
    const left = state.inflight;
    for (const l of listeners) l.close();
    state.accessLog?.flush();
    if (state.tracer !== null) {
      await state.tracer.shutdown(TRACE_FLUSH_MS);
      sendGauges(); // the final span counts
    }
    await registry.destroyAll();
    state.stats?.flush();
    send({ type: 'drained', workerId: options.workerId, inflight: left });
    port.close();
  }
}
