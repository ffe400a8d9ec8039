// `meshlet run`: load and validate the config, refuse ports another process serves, start the
// workers, the admin endpoint and the control socket, and drain on SIGTERM/SIGINT.
import { upstreamMetrics } from '../upstream/shared/report.js';
import type http from 'node:http';
import type net from 'node:net';
import os from 'node:os';
import { startAdmin } from '../admin/admin-server.js';
import { readConfigFiles } from '../config/index.js';
import { ConfigStore, describeIssues } from '../control/config-store.js';
import { startControlServer } from '../control/control-server.js';
import { createApplier, createOps } from '../control/ops.js';
import { defaultControlSocket, securePrivateDir } from '../control/socket-path.js';
import { assertPortsFree } from '../control/port-check.js';
import { StatsService } from '../stats/stats-service.js';
import { DEFAULT_JWKS_REFRESH_MS, JwksService } from '../control/jwks-service.js';
import { Supervisor, type SupervisorOptions } from '../control/supervisor.js';
import type { Snapshot } from '../config/snapshot.js';
import { createLogger, type Logger } from '../log.js';
import { DEFAULT_CODEC } from '../upstream/codecs.js';
import { DEFAULT_PATH_NORMALIZATION } from '../http/path-normalize.js';
import { identitySourceFromArgs, type IdentityArgs, type IdentitySource, type WorkloadIdentity } from '../tls/identity/index.js';
import type { EtcdTls } from '../store/etcd/client.js';
import { defaultCacheDir } from '../store/cache.js';
import type { MeshSession } from '../store/mesh.js';
import type { StoreUrl } from '../store/options.js';
import { readRegistration, sidecarId, type Registration } from '../store/registration.js';
import { encodeOwnMetadata, type OwnMetadata } from '../telemetry/peer-metadata.js';
import { buildWorkload, DEFAULT_CLUSTER_ID, type WorkloadMeta } from '../telemetry/workload.js';
import { parseSpiffeId } from '../tls/identity/spiffe.js';
import { watchFiles } from './watch-files.js';
import { runWrapped } from './wrapper.js';

/** `--store …`: config and the workload registry from etcd (src/store/). */
export interface StoreRunOptions {
  url: StoreUrl;
  tls: EtcdTls | null;
  /** --store-timeout: how long to wait for the store at start */
  timeoutMs: number;
  /** --store-cache DIR; null = under the admin port's temp dir */
  cacheDir: string | null;
  /** --register FILE: this sidecar's WorkloadEntry */
  register: string | null;
  /** --propagation-delay: inbound keeps serving this long after deregistration */
  propagationMs: number;
}

/** `--workload NAME.NAMESPACE`, `--workload-label k=v`, `--cluster-id`: this workload when it is not registered. */
export interface WorkloadFlags {
  name: string;
  namespace: string;
  labels: Record<string, string>;
}

export interface RunOptions extends SupervisorOptions {
  /** the workload from flags (null: from --register, or not known) */
  workloadFlags: WorkloadFlags | null;
  /** --jwks-refresh: how often RequestAuthentication key sets are fetched again */
  jwksRefreshMs: number;
  /** --cluster-id: Istio's CLUSTER_ID of this workload (default "Kubernetes", Istio's) */
  clusterId: string;
  configFiles: string[];
  adminHost: string;
  adminPort: number;
  /** null = defaultControlSocket(adminPort), in a directory only this user can write */
  controlSocket: string | null;
  watch: boolean;
  drainTimeoutMs: number;
  /** wrapper mode: the app to run once meshlet is ready (empty: none) */
  command: string[];
  /** wrapper mode: also set HTTP_PROXY/http_proxy to the outbound listener */
  setHttpProxy: boolean;
  /** --identity-dir, or --ca-url/--ca-token/--identity: the workload identity for mTLS; null = plaintext mesh */
  identityArgs: IdentityArgs | null;
  /** the mesh store; null = local files only */
  store: StoreRunOptions | null;
}

export const DEFAULT_RUN_OPTIONS: Omit<RunOptions, 'configFiles'> = {
  workers: os.availableParallelism(),
  adminHost: '127.0.0.1',
  adminPort: 15000,
  controlSocket: null,
  watch: false,
  logLevel: 'info',
  drainTimeoutMs: 5000,
  connectionsPerEndpoint: 1024,
  upstreamQueueTimeoutMs: 1000,
  upstreamIdleTimeoutMs: 4000,
  connectTimeoutMs: 10_000,
  accessLog: null,
  accessLogSample: 1,
  codec: DEFAULT_CODEC,
  stats: true,
  command: [],
  setHttpProxy: false,
  retryBudgetRatio: 0.2,
  retryBudgetMinPerSecond: 10,
  tracing: null,
  pathNormalization: DEFAULT_PATH_NORMALIZATION,
  identityArgs: null,
  h1: { acceptHttp10: false, idleTimeoutS: 60, requestTimeoutS: 10 },
  store: null,
  workloadFlags: null,
  clusterId: DEFAULT_CLUSTER_ID,
  jwksRefreshMs: DEFAULT_JWKS_REFRESH_MS,
  workload: null,
  peerMetadata: null,
};

const VERSION = '0.1.0';

export interface Sidecar {
  readonly snapshot: Snapshot;
  store: ConfigStore;
  supervisor: Supervisor;
  stats: StatsService;
  admin: http.Server;
  control: net.Server;
  controlPath: string;
  log: Logger;
  /** the mesh store session (null without --store) */
  mesh: MeshSession | null;
  /**
   * Shutdown in order: readiness false and inbound stops accepting at once; outbound keeps serving
   * until `until` settles (the wrapped app exited; at most the drain timeout) — or, without it,
   * until every worker has been quiet for a moment, for at most half the drain timeout; then no
   * listener accepts, requests in flight finish within what is left of the timeout, and the workers
   * exit as soon as none is left.
   */
  stop(until?: Promise<unknown>): Promise<void>;
}

export class StartupError extends Error {}

export async function startSidecar(options: RunOptions): Promise<Sidecar> {
  const log = createLogger(options.logLevel);
  const store = new ConfigStore();
  const sources = await readConfigFiles(options.configFiles).catch((err: Error) => { throw new StartupError(err.message); });
  const mesh = options.store === null ? null : await openMesh(options, options.store, log);
  const plan = store.plan(sources, mesh === null ? null : mesh.layer(mesh.initial));
  for (const w of describeIssues(plan.warnings)) log.warn(w);
  if (!plan.ok) {
    await mesh?.close();
    throw new StartupError(describeIssues(plan.errors).join('\n'));
  }
  store.commit(plan);
  const snapshot = plan.snapshot;
  try {
    await assertPortsFree(snapshot.listeners);
  } catch (err) {
    await mesh?.close();
    throw new StartupError((err as Error).message);
  }
  const stats = new StatsService({
    workers: () => supervisor.workerCount,
    generation: () => store.generation,
    upstream: () => {
      const upstream = upstreamMetrics(supervisor.upstream.state, store.snapshot);
      return [...upstream, ...jwks.metrics(), ...(mesh === null ? [] : mesh.metrics())];
    },
  });
  // the workload identity (mTLS) is obtained before any worker starts, so listeners never serve without it
  let identitySource: IdentitySource | null = null;
  let identity: WorkloadIdentity | null = null;
  try {
    identitySource = options.identityArgs === null ? null : identitySourceFromArgs(options.identityArgs, log);
    if (identitySource !== null) identity = await identitySource.start();
  } catch (err) {
    await identitySource?.close();
    await mesh?.close();
    throw new StartupError(`workload identity: ${(err as Error).message}`);
  }
  let registration: Registration | null = null;
  if (mesh !== null && options.store?.register != null) {
    try {
      registration = readRegistration(options.store.register, snapshot, sidecarId(options.adminPort), identity?.spiffeId ?? null);
    } catch (err) {
      await identitySource?.close();
      await mesh.close();
      throw new StartupError((err as Error).message);
    }
  }
  const self = ownWorkload(options, registration, identity?.spiffeId ?? null, snapshot, log);
  const jwks = new JwksService((u) => supervisor.applyJwks(u), log, options.jwksRefreshMs);
  stats.setWorkload(self?.workload ?? null, identity?.spiffeId ?? '');
  const supervisor: Supervisor = new Supervisor(snapshot, { ...options, identity, workload: self?.workload ?? null, peerMetadata: self?.metadata ?? null }, log, {
    snapshot: (s) => {
      stats.registerSnapshot(s);
      jwks.update(s);
      if (options.tracing === null && (s.telemetry ?? []).some((t) => t.tracing.length > 0)) {
        log.warn({ generation: s.generation }, 'a Telemetry sets tracing, but meshlet has no trace collector (--trace-otlp / --trace-zipkin): no spans are sent');
      }
    },
    ring: (id, ring, strings) => stats.addRing(id, ring, strings),
    exited: (id) => stats.removeRing(id),
    gauges: (id, report) => stats.setGauges(id, report),
  });
  const admin = await startAdmin(options.adminHost, options.adminPort, { supervisor, store, stats })
    .catch((err: Error) => { throw new StartupError(err.message); });
  let stopping: Promise<void> | null = null;
  const controlPath = options.controlSocket ?? defaultControlSocket(options.adminPort);
  // one queue for every config change: control socket applies and store changes
  const applier = createApplier({ store, supervisor });
  let control: net.Server;
  try {
    if (options.controlSocket === null) await securePrivateDir(controlPath, true);
    control = await startControlServer(controlPath, createOps({ store, supervisor, stats, applier, drain: () => void sidecar.stop().then(() => process.exit(0)) }), log);
  } catch (err) {
    admin.close();
    throw new StartupError((err as Error).message);
  }
  try {
    await supervisor.start();
  } catch (err) {
    await supervisor.drain(0);
    admin.close();
    control.close();
    await mesh?.close();
    throw new StartupError((err as Error).message);
  }
  if (mesh !== null) {
    mesh.watch(applier, store);
    mesh.ready(registration);
  }
  const stopConfigWatch = options.watch ? watchFiles(options.configFiles, controlPath, log) : () => undefined;
  // rotation: a renewed or rewritten identity reaches every worker (inbound and outbound); open
  // connections keep theirs, new ones use the new one
  identitySource?.on('update', (next) => {
    supervisor.applyIdentity(next).then(
      () => log.info({ identity: next.spiffeId, notAfter: next.notAfter.toISOString() }, 'workload identity rotated'),
      (err: Error) => log.error({ err: err.message }, 'workload identity update refused; the previous one stays'),
    );
  });
  const stopWatching = (): void => { stopConfigWatch(); void identitySource?.close(); jwks.close(); };
  const listeners = snapshot.listeners.map((l) => `${l.direction} ${l.bind}:${l.port}`);
  const mtls = supervisor.mtlsListeners.map((f) => `${f.name} ${f.mode}`);
  const workloadInfo = self === null || self.workload.name === '' ? {} : { workload: `${self.workload.name}.${self.workload.namespace}` };
  const storeInfo = mesh === null ? {} : { store: `etcd://${mesh.client.endpoints.join(',')}${mesh.keys.prefix}`, ...(registration === null ? {} : { workload: `${registration.namespace}/${registration.name}` }) };
  log.info({ listeners, ...workloadInfo, ...(mtls.length > 0 ? { mtls } : {}), workers: supervisor.workerCount, generation: store.generation, admin: `${options.adminHost}:${options.adminPort}`, control: controlPath, ...storeInfo }, 'meshlet ready');
  const sidecar: Sidecar = {
    get snapshot() { return store.snapshot as Snapshot; },
    store, supervisor, stats, admin, control, controlPath, log, mesh,
    stop(until?: Promise<unknown>) {
      stopping ??= (async () => {
        log.info({ drainTimeoutMs: options.drainTimeoutMs }, 'draining');
        const deadline = Date.now() + options.drainTimeoutMs;
        stopWatching();
        control.close();
        // registered: leave the registry first; inbound serves until peers have seen it
        await mesh?.deregister();
        const quiet = supervisor.drainInbound();
        // Without a wrapped app, "quiet" stands in for "the app is done with outbound"; under steady
        // load it never comes, so it gets half the timeout and what is then in flight the other half.
        const outboundMs = until === undefined ? options.drainTimeoutMs / 2 : options.drainTimeoutMs;
        let timer: NodeJS.Timeout | undefined;
        await Promise.race([until ?? quiet, new Promise((r) => { timer = setTimeout(r, outboundMs); })]);
        clearTimeout(timer);
        await supervisor.drain(Math.max(0, deadline - Date.now()));
        await mesh?.close();
        stats.close();
        await new Promise<void>((resolve) => admin.close(() => resolve()));
        admin.closeAllConnections();
        log.info('stopped');
      })();
      return stopping;
    },
  };
  return sidecar;
}

/**
 * This sidecar's workload: the registered WorkloadEntry's, else the flags'; null when neither
 * names it (no metadata is exchanged then, and the metrics say "unknown" for this side).
 */
function ownWorkload(options: RunOptions, registration: Registration | null, spiffe: string | null, snapshot: Snapshot, log: Logger): { workload: WorkloadMeta; metadata: OwnMetadata } | null {
  const flags = options.workloadFlags;
  let id: { namespace?: string; serviceAccount?: string } | null = null;
  try {
    id = spiffe === null ? null : parseSpiffeId(spiffe);
  } catch {
    id = null;
  }
  const inbound = snapshot.listeners.find((l) => l.direction === 'inbound');
  const address = registration?.workload.address ?? (inbound === undefined || inbound.bind === '0.0.0.0' || inbound.bind === '::' ? '127.0.0.1' : inbound.bind);
  if (registration === null && flags === null) {
    // no workload named: its identity still tells the namespace and service account (peers then answer with theirs)
    if (id?.namespace === undefined || id.serviceAccount === undefined) return null;
    const workload: WorkloadMeta = { name: '', namespace: id.namespace, instance: sidecarId(options.adminPort), labels: {}, serviceAccount: id.serviceAccount, cluster: options.clusterId };
    return { workload, metadata: encodeOwnMetadata(workload, address) };
  }
  const { workload, warnings } = registration !== null
    ? buildWorkload({
      name: registration.workload.name, namespace: registration.namespace, labels: registration.workload.labels, instance: registration.name,
      cluster: options.clusterId, serviceAccount: registration.workload.serviceAccount, spiffe: id,
    })
    : buildWorkload({
      name: (flags as WorkloadFlags).name, namespace: (flags as WorkloadFlags).namespace, labels: (flags as WorkloadFlags).labels,
      instance: sidecarId(options.adminPort), cluster: options.clusterId, spiffe: id,
    });
  for (const w of warnings) log.warn(w);
  return { workload, metadata: encodeOwnMetadata(workload, address) };
}

async function openMesh(options: RunOptions, store: StoreRunOptions, log: Logger): Promise<MeshSession> {
  try {
    // loaded only with --store: a sidecar without a mesh store does not hold gRPC and etcd's protos
    const { MeshSession } = await import('../store/mesh.js');
    return await MeshSession.open({
      url: store.url, tls: store.tls, timeoutMs: store.timeoutMs, cacheDir: store.cacheDir ?? defaultCacheDir(options.adminPort),
      sidecar: sidecarId(options.adminPort), propagationMs: store.propagationMs, version: VERSION,
    }, log);
  } catch (err) {
    throw new StartupError((err as Error).message);
  }
}

/** Runs until SIGTERM/SIGINT, then drains and exits 0; in wrapper mode, runs the app and exits with its code. */
export async function runUntilSignal(options: RunOptions): Promise<void> {
  let sidecar: Sidecar;
  try {
    sidecar = await startSidecar(options);
  } catch (err) {
    process.stderr.write(`meshlet: ${(err as Error).message}\n`);
    process.exit(1);
  }
  if (options.command.length > 0) return runWrapped(sidecar, options);
  const onSignal = (signal: string): void => {
    sidecar.log.info({ signal }, 'signal received');
    void sidecar.stop().then(() => process.exit(0));
  };
  process.once('SIGTERM', onSignal);
  process.once('SIGINT', onSignal);
}
