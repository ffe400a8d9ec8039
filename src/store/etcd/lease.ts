// An etcd lease kept alive for as long as the sidecar runs. Keys put under it (the registered
// workload, the sidecar's status) vanish when the process dies without saying so (kill -9): etcd
// expires the lease after its TTL. When the lease is lost while running (the store was away
// longer than the TTL, or etcd says it is gone), a new one is granted and `attach` puts the keys
// again under it.
import * as grpc from '@grpc/grpc-js';
import type { EtcdClient } from './client.js';

interface Stream {
  write(msg: unknown): boolean;
  cancel(): void;
  on(event: string, fn: (arg: never) => void): Stream;
  removeAllListeners(): Stream;
}

export interface LeaseEvents {
  /** (re)attach every key to this lease id; called after each grant */
  attach(id: string): Promise<void>;
  /** a grant or attach failed, or the lease was lost (for logs) */
  problem(message: string): void;
}

export class LeaseKeeper {
  private readonly client: EtcdClient;
  readonly ttlSeconds: number;
  private readonly events: LeaseEvents;
  private leaseId: string | null = null;
  private lastAck = 0;
  private stream: Stream | null = null;
  private endpoint: number;
  private timer: NodeJS.Timeout | null = null;
  private closed = false;
  private busy = false;

  constructor(client: EtcdClient, ttlSeconds: number, events: LeaseEvents) {
    this.client = client;
    this.ttlSeconds = ttlSeconds;
    this.events = events;
    this.endpoint = client.preferred;
  }

  /** The current lease id, or null while none is granted (the store is away). */
  get id(): string | null {
    return this.leaseId;
  }

  /**
   * Grants the first lease and attaches the keys, then keeps it alive. When the store cannot be
   * reached, resolves false and keeps trying at every tick.
   */
  async start(): Promise<boolean> {
    try {
      await this.renew();
      return true;
    } catch (err) {
      this.events.problem((err as Error).message);
      return false;
    } finally {
      this.schedule();
    }
  }

  private schedule(): void {
    if (this.closed) return;
    // three keep-alives per TTL, as etcd's own clients do
    this.timer = setTimeout(() => void this.tick(), (this.ttlSeconds * 1000) / 3);
  }

  private async tick(): Promise<void> {
    this.timer = null;
    if (this.closed || this.busy) return this.schedule();
    this.busy = true;
    try {
      if (this.leaseId !== null && Date.now() - this.lastAck > this.ttlSeconds * 1000) {
        this.events.problem(`lease ${this.leaseId} not renewed for ${this.ttlSeconds} s; granting a new one`);
        this.leaseId = null;
      }
      if (this.leaseId === null) await this.renew();
      else this.keepAlive();
    } catch (err) {
      this.events.problem((err as Error).message);
    } finally {
      this.busy = false;
      this.schedule();
    }
  }

  private async renew(): Promise<void> {
    const previous = this.leaseId;
    const id = await this.client.leaseGrant(this.ttlSeconds);
    await this.events.attach(id);
    this.leaseId = id;
    this.lastAck = Date.now();
    // the old lease, if etcd still has it, holds no key any more; let it go at once
    if (previous !== null) this.client.leaseRevoke(previous).catch(() => undefined);
  }

  private keepAlive(): void {
    if (this.stream === null) {
      const stream = (this.client.service('Lease', this.endpoint).LeaseKeepAlive as (m: grpc.Metadata) => Stream)(new grpc.Metadata());
      stream.on('data', (res: { ID: string; TTL: string }) => {
        if (res.ID !== this.leaseId) return;
        if (Number(res.TTL) > 0) this.lastAck = Date.now();
        else {
          this.events.problem(`lease ${res.ID} expired in etcd; granting a new one`);
          this.leaseId = null;
          if (this.timer !== null && !this.busy) {
            clearTimeout(this.timer);
            this.timer = null;
            void this.tick();
          }
        }
      });
      const failed = (): void => {
        if (this.stream !== stream) return;
        this.stream = null;
        stream.removeAllListeners();
        stream.on('error', () => undefined);
        this.endpoint = (this.endpoint + 1) % this.client.endpoints.length;
      };
      stream.on('error', failed);
      stream.on('end', failed);
      this.stream = stream;
    }
    this.stream.write({ ID: this.leaseId });
  }

  /** Stops renewing; with `revoke`, the lease (and every key under it) is deleted now. */
  async close(revoke: boolean): Promise<void> {
    this.closed = true;
    if (this.timer !== null) clearTimeout(this.timer);
    const stream = this.stream;
    this.stream = null;
    if (stream !== null) {
      stream.removeAllListeners();
      stream.on('error', () => undefined);
      stream.cancel();
    }
    if (revoke && this.leaseId !== null) await this.client.leaseRevoke(this.leaseId).catch(() => undefined);
  }
}
