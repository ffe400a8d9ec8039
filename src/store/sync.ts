// The sidecar's view of the store: config/ and workloads/ read at one revision, then kept current
// by one watch. Changes are batched (flushed 25 ms after the last event, at most 100 ms after the
// first) and handed to `onSet` one set at a time; a set that arrives while one is being applied
// waits and the newest wins. While the watch is down the last set keeps serving; the connection
// state and the age of the last sync are exported as metrics.
import type { MeshletMetric } from '../stats/prometheus.js';
import type { EtcdClient, KeyValue } from './etcd/client.js';
import { PrefixWatch, type WatchEvent } from './etcd/watch.js';
import type { StoreKeys } from './keys.js';
import type { StoreSet } from './layer.js';

const QUIET_MS = 25;
const MAX_DELAY_MS = 100;

export interface SyncEvents {
  /** a new set to apply (resolves when applied or rejected) */
  set(set: StoreSet): Promise<void>;
  connection(up: boolean, reason: string | null): void;
}

export function newestRevision(kvs: readonly KeyValue[]): number {
  let max = 0;
  for (const kv of kvs) if (kv.modRevision > max) max = kv.modRevision;
  return max;
}

/** Reads config/ and workloads/ at one store revision. */
export async function readStoreSet(client: EtcdClient, keys: StoreKeys, timeoutMs?: number): Promise<StoreSet> {
  const config = await withTimeout(client.range(keys.config), timeoutMs);
  const workloads = await withTimeout(client.range(keys.workloads, config.revision), timeoutMs);
  return {
    generation: newestRevision(config.kvs),
    revision: config.revision,
    marker: config.kvs.find((kv) => kv.key === keys.generation)?.modRevision ?? 0,
    config: new Map(config.kvs.map((kv) => [kv.key, kv.value])),
    workloads: new Map(workloads.kvs.map((kv) => [kv.key, kv.value])),
  };
}

function withTimeout<T>(p: Promise<T>, ms: number | undefined): Promise<T> {
  if (ms === undefined) return p;
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([p, new Promise<T>((_, reject) => { timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms); })])
    .finally(() => clearTimeout(timer));
}

export class StoreSync {
  private readonly client: EtcdClient;
  private readonly keys: StoreKeys;
  private readonly on: SyncEvents;
  private set: StoreSet;
  private watch: PrefixWatch | null = null;
  private firstEventAt = 0;
  private timer: NodeJS.Timeout | null = null;
  private applying: Promise<void> | null = null;
  private dirty = false;
  private up = false;
  /** when the store was last known to be in sync with us (now, while connected) */
  private lastSyncAt = Date.now();
  resyncs = 0;

  constructor(client: EtcdClient, keys: StoreKeys, initial: StoreSet, on: SyncEvents) {
    this.client = client;
    this.keys = keys;
    this.on = on;
    this.set = { ...initial, config: new Map(initial.config), workloads: new Map(initial.workloads) };
  }

  get connected(): boolean {
    return this.up;
  }

  /** Seconds since the store was last known in sync (0 while connected). */
  get syncAgeSeconds(): number {
    return this.up ? 0 : (Date.now() - this.lastSyncAt) / 1000;
  }

  /** Watches from the revision after the initial set's. */
  start(): void {
    this.watch = new PrefixWatch(this.client, [this.keys.config, this.keys.workloads], this.set.revision + 1, {
      events: (i, events) => this.onEvents(i, events),
      connection: (up, reason) => {
        if (!up) this.lastSyncAt = Date.now();
        this.up = up;
        this.on.connection(up, reason);
      },
      resync: () => this.resync(),
    });
    this.watch.start();
  }

  private onEvents(prefix: number, events: WatchEvent[]): void {
    const map = prefix === 0 ? this.set.config : this.set.workloads;
    for (const e of events) {
      if (e.type === 'put') map.set(e.kv.key, e.kv.value);
      else map.delete(e.kv.key);
      if (prefix === 0) this.set.generation = Math.max(this.set.generation, e.kv.modRevision);
      this.set.revision = Math.max(this.set.revision, e.kv.modRevision);
    }
    this.schedule();
  }

  /** The watch's resume revision was compacted away: read everything again. */
  private async resync(): Promise<number> {
    const fresh = await readStoreSet(this.client, this.keys, 5000);
    this.resyncs++;
    // a resync cannot see deletes it missed as events; the new set replaces the old one whole
    this.set = fresh;
    this.schedule();
    return fresh.revision;
  }

  private schedule(): void {
    const now = Date.now();
    if (this.timer === null) this.firstEventAt = now;
    else clearTimeout(this.timer);
    const wait = Math.max(0, Math.min(QUIET_MS, this.firstEventAt + MAX_DELAY_MS - now));
    this.timer = setTimeout(() => {
      this.timer = null;
      this.flush();
    }, wait);
  }

  private flush(): void {
    if (this.applying !== null) {
      this.dirty = true;
      return;
    }
    const snapshot: StoreSet = { ...this.set, config: new Map(this.set.config), workloads: new Map(this.set.workloads) };
    this.applying = this.on.set(snapshot).catch(() => undefined).then(() => {
      this.applying = null;
      if (this.dirty) {
        this.dirty = false;
        this.flush();
      }
    });
  }

  metrics(): MeshletMetric[] {
    return [
      { name: 'meshlet_store_connected', help: 'Whether the sidecar is watching the mesh store (1) or serving its last set without it (0).', type: 'gauge', value: this.up ? 1 : 0 },
      { name: 'meshlet_store_last_sync_age_seconds', help: 'Seconds since the sidecar was last in sync with the mesh store (0 while connected).', type: 'gauge', value: this.syncAgeSeconds },
      { name: 'meshlet_store_revision', help: 'Store revision of the newest change the sidecar has seen.', type: 'gauge', value: this.set.revision },
      { name: 'meshlet_store_resyncs_total', help: 'Full reads of the store after the watch revision was compacted.', type: 'counter', value: this.resyncs },
    ];
  }

  close(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.watch?.close();
    this.up = false;
  }
}
