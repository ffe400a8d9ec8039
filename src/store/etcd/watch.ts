// One etcd watch stream over several key prefixes that survives the store going away: on any
// stream failure it reconnects (next endpoint, jittered back-off) and resumes each prefix from the
// revision after the last event it delivered; when etcd has compacted that revision away the owner
// is told to resync (range again) and the watch restarts from the resync's revision.
import * as grpc from '@grpc/grpc-js';
import { prefixEnd, toKv, type EtcdClient, type KeyValue, type RawHeader, type RawKv } from './client.js';

export interface WatchEvent {
  type: 'put' | 'delete';
  kv: KeyValue;
}

export interface WatchHandlers {
  /** events of one prefix (index into `prefixes`), in revision order */
  events(prefix: number, events: WatchEvent[]): void;
  /** the stream is (re)established on every prefix, or lost (with the reason) */
  connection(up: boolean, reason: string | null): void;
  /** the resume revision was compacted: range again and return the revision read at */
  resync(): Promise<number>;
}

interface RawWatchResponse {
  header: RawHeader | null;
  watch_id: string;
  created: boolean;
  canceled: boolean;
  compact_revision: string;
  cancel_reason: string;
  events: { type: number; kv: RawKv }[];
}

interface Stream {
  write(msg: unknown): boolean;
  cancel(): void;
  on(event: string, fn: (arg: never) => void): Stream;
  removeAllListeners(): Stream;
}

const BACKOFF_BASE_MS = 100;
const BACKOFF_MAX_MS = 3000;

export class PrefixWatch {
  private readonly client: EtcdClient;
  private readonly prefixes: string[];
  private readonly handlers: WatchHandlers;
  /** per prefix: the first revision not yet delivered */
  private readonly next: number[];
  private stream: Stream | null = null;
  private created = 0;
  private failures = 0;
  private endpoint: number;
  private timer: NodeJS.Timeout | null = null;
  private closed = false;
  private up = false;

  constructor(client: EtcdClient, prefixes: string[], fromRevision: number, handlers: WatchHandlers) {
    this.client = client;
    this.prefixes = prefixes;
    this.handlers = handlers;
    this.next = prefixes.map(() => fromRevision);
    this.endpoint = client.preferred;
  }

  get connected(): boolean {
    return this.up;
  }

  start(): void {
    this.open();
  }

  private open(): void {
    if (this.closed) return;
    const meta = new grpc.Metadata();
    meta.set('hasleader', 'true'); // a member cut off from the leader ends the stream instead of going silent
    const stream = (this.client.service('Watch', this.endpoint).Watch as (m: grpc.Metadata) => Stream)(meta);
    this.stream = stream;
    this.created = 0;
    stream.on('data', (res: RawWatchResponse) => this.onResponse(stream, res));
    stream.on('error', (err: grpc.ServiceError) => this.lost(stream, err.details || err.message));
    stream.on('end', () => this.lost(stream, 'watch stream ended'));
    this.prefixes.forEach((p, i) => {
      stream.write({
        create_request: { key: Buffer.from(p), range_end: prefixEnd(p), start_revision: String(this.next[i]), progress_notify: true, watch_id: String(i + 1) },
      });
    });
  }

  private onResponse(stream: Stream, res: RawWatchResponse): void {
    if (stream !== this.stream) return;
    const i = Number(res.watch_id) - 1;
    if (res.canceled) {
      if (Number(res.compact_revision) > 0) void this.compacted(stream);
      else this.lost(stream, `watch canceled: ${res.cancel_reason || 'no reason given'}`);
      return;
    }
    if (res.created) {
      if (++this.created === this.prefixes.length) {
        this.failures = 0;
        this.up = true;
        this.handlers.connection(true, null);
      }
      return;
    }
    if (i < 0 || i >= this.prefixes.length) return;
    if (res.events.length === 0) {
      // progress notification: the watcher has seen everything up to the header's revision
      if (res.header !== null) this.next[i] = Math.max(this.next[i] as number, Number(res.header.revision) + 1);
      return;
    }
    const events = res.events.map((e): WatchEvent => ({ type: e.type === 1 ? 'delete' : 'put', kv: toKv(e.kv) }));
    this.next[i] = Math.max(this.next[i] as number, (events[events.length - 1]?.kv.modRevision ?? 0) + 1);
    this.handlers.events(i, events);
  }

  private async compacted(stream: Stream): Promise<void> {
    this.drop(stream);
    try {
      const revision = await this.handlers.resync();
      this.next.fill(revision + 1);
      this.failures = 0;
      this.open();
    } catch (err) {
      this.lost(null, `resync after compaction failed: ${(err as Error).message}`);
    }
  }

  private drop(stream: Stream | null): void {
    if (stream === null || stream !== this.stream) return;
    this.stream = null;
    stream.removeAllListeners();
    stream.on('error', () => undefined);
    stream.cancel();
  }

  /** The stream failed: report it once, then reconnect to the next endpoint after a jittered back-off. */
  private lost(stream: Stream | null, reason: string): void {
    if (stream !== null && stream !== this.stream) return;
    this.drop(stream);
    if (this.closed || this.timer !== null) return;
    if (this.up || this.failures === 0) this.handlers.connection(false, reason);
    this.up = false;
    this.client.skip(this.endpoint);
    this.endpoint = (this.endpoint + 1) % this.client.endpoints.length;
    const ceiling = Math.min(BACKOFF_MAX_MS, BACKOFF_BASE_MS * 2 ** Math.min(this.failures, 10));
    this.failures++;
    this.timer = setTimeout(() => {
      this.timer = null;
      this.open();
    }, ceiling / 2 + Math.random() * (ceiling / 2));
  }

  close(): void {
    this.closed = true;
    if (this.timer !== null) clearTimeout(this.timer);
    this.drop(this.stream);
    this.up = false;
  }
}
