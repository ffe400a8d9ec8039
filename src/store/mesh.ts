// A sidecar's membership in the mesh store: the store set at start (or the locally saved one when
// the store is unreachable), the watch that feeds every later set through the same apply as the
// control socket, the lease that carries its status and its registered WorkloadEntry, and the
// deregistration that opens its drain.
import net from 'node:net';
import { formatIssue, ParseMemo } from '../config/index.js';
import type { ConfigStore } from '../control/config-store.js';
import type { Applier } from '../control/ops.js';
import type { Logger } from '../log.js';
import type { MeshletMetric } from '../stats/prometheus.js';
import { loadStoreSet, saveStoreSet } from './cache.js';
import { EtcdClient, type EtcdTls } from './etcd/client.js';
import { LeaseKeeper } from './etcd/lease.js';
import { statusKey, storeKeys, workloadKey, type StoreKeys } from './keys.js';
import { storeLayer, type StoreLayer, type StoreSet } from './layer.js';
import type { StoreUrl } from './options.js';
import type { Registration } from './registration.js';
import type { SidecarStatus } from './status.js';
import { readStoreSet, StoreSync } from './sync.js';

export const LEASE_TTL_SECONDS = 10;
const APP_PROBE_MS = 100;
const STATUS_RETRY_MS = 1000;

export interface MeshOptions {
  url: StoreUrl;
  tls: EtcdTls | null;
  /** how long to wait for the store at start before falling back to the saved set */
  timeoutMs: number;
  cacheDir: string;
  sidecar: string;
  /** how long inbound keeps serving after deregistration, so peers see the removal first */
  propagationMs: number;
  version: string;
}

function portOpen(address: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ host: address, port });
    s.once('connect', () => { s.destroy(); resolve(true); });
    s.once('error', () => resolve(false));
  });
}

export class MeshSession {
  readonly keys: StoreKeys;
  readonly client: EtcdClient;
  private readonly options: MeshOptions;
  private readonly log: Logger;
  /** the set the sidecar starts from */
  readonly initial: StoreSet;
  readonly fromCache: string | null;
  private sync: StoreSync | null = null;
  private lease: LeaseKeeper | null = null;
  private registration: Registration | null = null;
  private registered = false;
  private closed = false;
  private warned = new Set<string>();
  /** parse results of unchanged keys, reused by each layer() */
  private readonly memo = new ParseMemo();
  private deregistering: Promise<void> | null = null;
  private statusChain: Promise<void> = Promise.resolve();
  private statusRetry: NodeJS.Timeout | null = null;
  private status: SidecarStatus;

  private constructor(options: MeshOptions, client: EtcdClient, initial: StoreSet, fromCache: string | null, log: Logger) {
    this.options = options;
    this.keys = storeKeys(options.url.prefix);
    this.client = client;
    this.initial = initial;
    this.fromCache = fromCache;
    this.log = log;
    this.status = {
      sidecar: options.sidecar, workload: null, generation: initial.generation, revision: initial.revision, state: 'SYNCED',
      error: null, ready: false, version: options.version, updated: new Date().toISOString(),
    };
  }

  /**
   * Reads the store (within `timeoutMs`); when it cannot be reached, the set saved by the last run
   * (with a warning); with neither, throws a clear error.
   */
  static async open(options: MeshOptions, log: Logger): Promise<MeshSession> {
    const client = new EtcdClient({ endpoints: options.url.endpoints, tls: options.tls, callTimeoutMs: options.timeoutMs });
    const where = `etcd://${options.url.endpoints.join(',')}${options.url.prefix}`;
    try {
      const set = await readStoreSet(client, storeKeys(options.url.prefix), options.timeoutMs);
      log.info({ store: where, generation: set.generation, revision: set.revision, resources: set.config.size, workloads: set.workloads.size }, 'mesh store read');
      return new MeshSession(options, client, set, null, log);
    } catch (err) {
      const saved = loadStoreSet(options.cacheDir, options.url.prefix);
      if (saved === null) {
        client.close();
        throw new Error(`mesh store ${where} unreachable (${(err as Error).message}) after ${options.timeoutMs} ms, and no saved store set in ${options.cacheDir}`);
      }
      log.warn({ store: where, err: (err as Error).message, cache: options.cacheDir, savedAt: saved.savedAt, generation: saved.generation },
        'mesh store unreachable at start: serving the store set saved locally; the watch keeps trying');
      return new MeshSession(options, client, saved, options.cacheDir, log);
    }
  }

  /** The store's part of the config, for a plan; logs keys skipped (once per key and reason). */
  layer(set: StoreSet): StoreLayer {
    const layer = storeLayer(this.keys, set, this.memo.parse);
    this.memo.retain(layer.files.map((f) => f.file).concat(layer.skipped.map((i) => i.file)));
    for (const w of layer.skipped) {
      const text = formatIssue(w);
      if (!this.warned.has(text)) {
        this.warned.add(text);
        this.log.warn(text);
      }
    }
    return layer;
  }

  /** Starts the watch: every change goes through `applier` (the control socket's queue). */
  watch(applier: Applier, store: ConfigStore): void {
    if (this.fromCache === null) this.save(this.initial);
    this.sync = new StoreSync(this.client, this.keys, this.initial, {
      set: async (set) => {
        let reply: Awaited<ReturnType<Applier['applyStore']>>;
        try {
          reply = await applier.applyStore(this.layer(set));
        } catch (err) {
          // e.g. a worker did not acknowledge in time: the set is not known to serve everywhere
          reply = { ok: false, errors: [(err as Error).message] };
        }
        if (reply.ok) {
          this.save(set);
          this.setStatus({ generation: set.generation, revision: set.revision, state: 'SYNCED', error: null });
          this.log.info({ generation: set.generation, revision: set.revision, served: store.generation, diff: reply.diff }, 'mesh store set applied');
        } else {
          const errors = (reply.errors as string[] | undefined) ?? [];
          this.setStatus({ generation: set.generation, revision: set.revision, state: 'REJECTED', error: errors.join('\n') });
          this.log.error({ generation: set.generation, errors }, 'mesh store set rejected; the running config keeps serving');
        }
      },
      connection: (up, reason) => {
        if (up) this.log.info({ endpoints: this.client.endpoints }, 'mesh store connected');
        else this.log.warn({ reason }, 'mesh store connection lost; serving the last config and endpoints');
      },
    });
    this.sync.start();
  }

  private save(set: StoreSet): void {
    try {
      saveStoreSet(this.options.cacheDir, set, this.options.url.prefix);
    } catch (err) {
      this.log.warn({ dir: this.options.cacheDir, err: (err as Error).message }, 'could not save the store set locally');
    }
  }

  private setStatus(change: Partial<SidecarStatus>): void {
    this.status = { ...this.status, ...change, updated: new Date().toISOString() };
    this.flushStatus();
  }

  /** Writes the status; a failed write (the store away, a leader election) is retried every second until one lands. */
  private flushStatus(): void {
    void this.writeStatus(null).catch((err: Error) => {
      this.log.debug({ err: err.message }, 'status not written; retrying');
      if (this.statusRetry !== null || this.closed) return;
      this.statusRetry = setTimeout(() => {
        this.statusRetry = null;
        this.flushStatus();
      }, STATUS_RETRY_MS);
      this.statusRetry.unref();
    });
  }

  /**
   * Puts the current status under `lease` (null: the current lease; none yet: written when one is
   * granted). Writes are chained, each sending the status as it is when its turn comes, so a slow
   * put (failing over to another member) can never land after a newer one and leave an old status.
   */
  private writeStatus(lease: string | null): Promise<void> {
    const run = this.statusChain.then(async () => {
      const id = lease ?? this.lease?.id ?? null;
      if (id === null || this.closed) return;
      await this.client.put(statusKey(this.keys, this.options.sidecar), JSON.stringify(this.status), id);
    });
    this.statusChain = run.catch(() => undefined);
    return run;
  }

  /**
   * The sidecar serves: take a lease for the status (and the registration), then register once the
   * local app accepts connections (in wrapper mode: once the app has started listening).
   */
  ready(registration: Registration | null): void {
    this.registration = registration;
    this.status = { ...this.status, ready: true, workload: registration === null ? null : `${registration.namespace}/${registration.name}` };
    this.lease = new LeaseKeeper(this.client, LEASE_TTL_SECONDS, {
      attach: (id) => this.attach(id),
      problem: (message) => this.log.warn({ err: message }, 'mesh store lease'),
    });
    void this.lease.start();
  }

  /** Puts the status and, once registered, the WorkloadEntry under lease `id` (on every new lease). */
  private async attach(id: string): Promise<void> {
    this.status = { ...this.status, updated: new Date().toISOString() };
    await this.writeStatus(id);
    const reg = this.registration;
    if (reg === null) return;
    if (!this.registered) {
      if (reg.app !== null && !(await portOpen(reg.app.address, reg.app.port))) {
        void this.awaitApp(reg);
        return;
      }
      this.registered = true;
    }
    await this.client.put(workloadKey(this.keys, reg.namespace, reg.name), reg.value, id);
    this.log.info({ workload: `${reg.namespace}/${reg.name}`, lease: id }, 'workload registered');
  }

  /** The app is not listening yet: probe its port until it does (no event exists for it), then register. */
  private async awaitApp(reg: Registration): Promise<void> {
    if (reg.app === null) return;
    while (!this.closed && this.registration !== null && !(await portOpen(reg.app.address, reg.app.port))) {
      await new Promise((r) => setTimeout(r, APP_PROBE_MS));
    }
    const id = this.lease?.id ?? null;
    if (this.closed || this.registration === null || id === null) return;
    this.registered = true;
    await this.client.put(workloadKey(this.keys, reg.namespace, reg.name), reg.value, id)
      .then(() => this.log.info({ workload: `${reg.namespace}/${reg.name}`, lease: id }, 'workload registered'))
      .catch((err: Error) => this.log.warn({ err: err.message }, 'registration failed; retried with the next lease'));
  }

  /**
   * First step of a drain: the WorkloadEntry is deleted and inbound keeps serving for one
   * propagation interval, so peers stop sending before the listeners close.
   */
  deregister(): Promise<void> {
    this.deregistering ??= this.leave();
    return this.deregistering;
  }

  private async leave(): Promise<void> {
    const reg = this.registration;
    this.registration = null;
    this.status = { ...this.status, ready: false };
    void this.writeStatus(null).catch(() => undefined);
    if (reg === null || !this.registered) return;
    try {
      await this.client.delete(workloadKey(this.keys, reg.namespace, reg.name));
      this.log.info({ workload: `${reg.namespace}/${reg.name}`, waitMs: this.options.propagationMs }, 'workload deregistered; inbound serves until peers have seen it');
    } catch (err) {
      this.log.warn({ err: (err as Error).message }, 'could not deregister (the lease expires it)');
    }
    await new Promise((r) => setTimeout(r, this.options.propagationMs));
  }

  metrics(): MeshletMetric[] {
    const registered: MeshletMetric = { name: 'meshlet_store_registered', help: 'Whether this sidecar\'s WorkloadEntry is registered in the mesh store.', type: 'gauge', value: this.registered && this.registration !== null ? 1 : 0 };
    return [...(this.sync?.metrics() ?? []), registered];
  }

  get connected(): boolean {
    return this.sync?.connected ?? false;
  }

  /** Stops watching; the lease is revoked (status and registration leave the store at once). */
  async close(): Promise<void> {
    this.closed = true;
    if (this.statusRetry !== null) clearTimeout(this.statusRetry);
    this.sync?.close();
    await this.lease?.close(true);
    this.client.close();
  }
}
