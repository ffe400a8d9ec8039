// A small etcd v3 client on @grpc/grpc-js with etcd's own protos (etcd.proto beside this file):
// KV range/put/delete/txn with failover across the cluster's endpoints, and the channels the
// watch (watch.ts) and lease keeper (lease.ts) open their streams on.
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';

const PROTO = fileURLToPath(new URL('../../../../src/store/etcd/etcd.proto', import.meta.url));

export interface EtcdTls {
  ca: Buffer;
  cert: Buffer | null;
  key: Buffer | null;
}

export interface EtcdOptions {
  /** host:port of each member */
  endpoints: string[];
  tls: EtcdTls | null;
  /** deadline of one call, all endpoints tried (default 5 s) */
  callTimeoutMs?: number;
}

export interface KeyValue {
  key: string;
  value: string;
  modRevision: number;
  createRevision: number;
  lease: string;
}

export type TxnOp =
  | { put: { key: string; value: string; lease?: string } }
  | { delete: { key: string; prefix?: boolean } };

/** Compare a key's mod revision (0 = the key does not exist). */
export interface ModCompare {
  key: string;
  modRevision: number;
}

/** Raw protobuf shapes (longs as strings, bytes as Buffers), as proto-loader gives them. */
export interface RawKv { key: Buffer; value: Buffer; mod_revision: string; create_revision: string; lease: string }
export interface RawHeader { revision: string }

type Unary = (req: unknown, meta: grpc.Metadata, opts: grpc.CallOptions, cb: (err: grpc.ServiceError | null, res: unknown) => void) => void;
type ServiceClient = grpc.Client & Record<string, Unary & ((...args: unknown[]) => unknown)>;
type ServiceCtor = new (address: string, creds: grpc.ChannelCredentials, options?: grpc.ChannelOptions) => ServiceClient;

let services: { KV: ServiceCtor; Watch: ServiceCtor; Lease: ServiceCtor } | null = null;

function loadServices(): NonNullable<typeof services> {
  if (services !== null) return services;
  const def = protoLoader.loadSync(PROTO, { keepCase: true, longs: String, enums: Number, defaults: true, oneofs: true });
  const pkg = grpc.loadPackageDefinition(def).etcdserverpb as unknown as Record<string, ServiceCtor>;
  services = { KV: pkg.KV as ServiceCtor, Watch: pkg.Watch as ServiceCtor, Lease: pkg.Lease as ServiceCtor };
  return services;
}

/** Errors worth another endpoint: the member is down, unreachable, or has no leader. */
export function isRetryable(err: grpc.ServiceError): boolean {
  return err.code === grpc.status.UNAVAILABLE || err.code === grpc.status.DEADLINE_EXCEEDED
    || err.code === grpc.status.CANCELLED || /no leader|leader changed|timed out/i.test(err.details ?? '');
}

export class EtcdError extends Error {
  constructor(message: string, readonly code: number | null) {
    super(message);
    this.name = 'EtcdError';
  }
}

const CHANNEL_OPTIONS: grpc.ChannelOptions = {
  // a member that stops answering is noticed within seconds, not at the OS's TCP timeout
  'grpc.keepalive_time_ms': 5000,
  'grpc.keepalive_timeout_ms': 2000,
  'grpc.keepalive_permit_without_calls': 1,
  'grpc.initial_reconnect_backoff_ms': 100,
  'grpc.max_reconnect_backoff_ms': 1000,
};

export function prefixEnd(prefix: string): Buffer {
  const b = Buffer.from(prefix);
  for (let i = b.length - 1; i >= 0; i--) {
    if ((b[i] as number) < 0xff) {
      const out = Buffer.from(b.subarray(0, i + 1));
      out[i] = (b[i] as number) + 1;
      return out;
    }
  }
  return Buffer.from([0]);
}

export function toKv(raw: RawKv): KeyValue {
  return {
    key: raw.key.toString(), value: raw.value.toString(), modRevision: Number(raw.mod_revision),
    createRevision: Number(raw.create_revision), lease: raw.lease,
  };
}

export class EtcdClient {
  readonly endpoints: string[];
  private readonly creds: grpc.ChannelCredentials;
  private readonly callTimeoutMs: number;
  private readonly clients = new Map<string, ServiceClient>();
  /** the endpoint that answered last: calls start there */
  private current = 0;
  private closed = false;

  constructor(options: EtcdOptions) {
    if (options.endpoints.length === 0) throw new Error('etcd: no endpoint');
    this.endpoints = options.endpoints;
    this.creds = options.tls === null ? grpc.credentials.createInsecure()
      : grpc.credentials.createSsl(options.tls.ca, options.tls.key, options.tls.cert);
    this.callTimeoutMs = options.callTimeoutMs ?? 5000;
    loadServices();
  }

  /** The service client of one endpoint (one channel per endpoint and service, created once). */
  service(name: 'KV' | 'Watch' | 'Lease', endpoint: number): ServiceClient {
    const address = this.endpoints[endpoint % this.endpoints.length] as string;
    const id = `${name}@${address}`;
    let c = this.clients.get(id);
    if (c === undefined) {
      const Ctor = loadServices()[name];
      c = new Ctor(address, this.creds, CHANNEL_OPTIONS);
      this.clients.set(id, c);
    }
    return c;
  }

  get preferred(): number {
    return this.current;
  }

  /** A unary call, tried on each endpoint in turn (starting with the last good one) until the deadline. */
  async call<R>(service: 'KV' | 'Lease', method: string, req: unknown, timeoutMs = this.callTimeoutMs): Promise<R> {
    const deadline = Date.now() + timeoutMs;
    let last: grpc.ServiceError | null = null;
    for (let attempt = 0; ; attempt++) {
      if (this.closed) throw new EtcdError('etcd client closed', null);
      const index = (this.current + attempt) % this.endpoints.length;
      // each endpoint gets a share of what is left, so one dead member cannot eat the whole deadline
      const left = deadline - Date.now();
      if (left <= 0) break;
      const share = attempt < this.endpoints.length ? Math.max(300, Math.floor(left / (this.endpoints.length - (attempt % this.endpoints.length)))) : left;
      try {
        const res = await this.unary<R>(this.service(service, index), method, req, Date.now() + Math.min(left, share));
        this.current = index;
        return res;
      } catch (err) {
        const e = err as grpc.ServiceError;
        if (!isRetryable(e)) throw new EtcdError(`etcd ${method}: ${e.details || e.message}`, e.code);
        last = e;
        if (attempt % this.endpoints.length === this.endpoints.length - 1) await new Promise((r) => setTimeout(r, 100));
      }
    }
    throw new EtcdError(`etcd unreachable (${this.endpoints.join(', ')}): ${last?.details || last?.message || 'timeout'}`, last?.code ?? null);
  }

  private unary<R>(client: ServiceClient, method: string, req: unknown, deadline: number): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      const fn = client[method] as Unary;
      fn.call(client, req, new grpc.Metadata(), { deadline }, (err, res) => (err === null ? resolve(res as R) : reject(err)));
    });
  }

  /** Every key under `prefix`, and the store revision they were read at. */
  async range(prefix: string, revision = 0): Promise<{ revision: number; kvs: KeyValue[] }> {
    const res = await this.call<{ header: RawHeader; kvs: RawKv[] }>('KV', 'Range', { key: Buffer.from(prefix), range_end: prefixEnd(prefix), revision });
    return { revision: Number(res.header.revision), kvs: res.kvs.map(toKv) };
  }

  async get(key: string): Promise<{ revision: number; kv: KeyValue | null }> {
    const res = await this.call<{ header: RawHeader; kvs: RawKv[] }>('KV', 'Range', { key: Buffer.from(key) });
    return { revision: Number(res.header.revision), kv: res.kvs[0] === undefined ? null : toKv(res.kvs[0]) };
  }

  async put(key: string, value: string, lease = '0'): Promise<number> {
    const res = await this.call<{ header: RawHeader }>('KV', 'Put', { key: Buffer.from(key), value: Buffer.from(value), lease });
    return Number(res.header.revision);
  }

  async delete(key: string, prefix = false): Promise<number> {
    const res = await this.call<{ header: RawHeader }>('KV', 'DeleteRange', { key: Buffer.from(key), range_end: prefix ? prefixEnd(key) : Buffer.alloc(0) });
    return Number(res.header.revision);
  }

  /** One transaction: every compare holds → the ops are applied atomically, at one new revision. */
  async txn(compares: ModCompare[], ops: TxnOp[]): Promise<{ succeeded: boolean; revision: number }> {
    const compare = compares.map((c) => ({ result: 0, target: 2, key: Buffer.from(c.key), mod_revision: String(c.modRevision) }));
    const success = ops.map((op) => ('put' in op
      ? { request_put: { key: Buffer.from(op.put.key), value: Buffer.from(op.put.value), lease: op.put.lease ?? '0' } }
      : { request_delete_range: { key: Buffer.from(op.delete.key), range_end: op.delete.prefix === true ? prefixEnd(op.delete.key) : Buffer.alloc(0) } }));
    const res = await this.call<{ header: RawHeader; succeeded: boolean }>('KV', 'Txn', { compare, success, failure: [] });
    return { succeeded: res.succeeded, revision: Number(res.header.revision) };
  }

  async leaseGrant(ttlSeconds: number): Promise<string> {
    const res = await this.call<{ ID: string; TTL: string; error: string }>('Lease', 'LeaseGrant', { TTL: String(ttlSeconds), ID: '0' });
    if (res.error !== '') throw new EtcdError(`etcd LeaseGrant: ${res.error}`, null);
    return res.ID;
  }

  async leaseRevoke(id: string): Promise<void> {
    await this.call('Lease', 'LeaseRevoke', { ID: id }, 2000);
  }

  /** Drops history before `revision` (watches resuming from before it are cancelled with ErrCompacted). */
  async compact(revision: number): Promise<void> {
    await this.call('KV', 'Compact', { revision: String(revision), physical: true });
  }

  /** Rotates the preferred endpoint (a stream on it failed). */
  skip(endpoint: number): void {
    if (this.current === endpoint % this.endpoints.length) this.current = (this.current + 1) % this.endpoints.length;
  }

  close(): void {
    this.closed = true;
    for (const c of this.clients.values()) c.close();
    this.clients.clear();
  }

  get isClosed(): boolean {
    return this.closed;
  }
}
