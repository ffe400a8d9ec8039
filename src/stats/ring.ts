// Per-worker request-record ring: one SharedArrayBuffer, one producer (the worker's request path,
// RingWriter) and one consumer (the control thread, RingReader). The writer never waits: when the
// ring is full the record is counted in `dropped` and lost. Layout:
//
//   byte 0                                                        byte 64
//   +-----------+-----------+-----------+-----------+---- pad ----+
//   | writeIdx  | readIdx   | dropped   | capacity  | (reserved)  |   header: Int32Array(16)
//   +-----------+-----------+-----------+-----------+-------------+
//   | record 0: INT_FIELDS x Int32 (generation … messages) | FLOAT_FIELDS x Float64 (times, bytes) |
//   | record 1                                                      |  slots: RECORD_BYTES each,
//   | ...                                                           |  read through one Int32Array
//   | record capacity-1                                             |  and one Float64Array
//   +---------------------------------------------------------------+
//
// Identifiers, codes and counts are Int32 (they fit: generations and string ids are counters, a
// status is < 1000, the flag set < FLAG_LIMIT); durations and byte counts are Float64 (a
// long-lived stream's microseconds and a connection's bytes pass 2^31). 88 bytes a record instead
// of 144 when every field was a Float64: 0.9 MiB less resident memory per worker.
//
// writeIdx/readIdx are free-running Int32 counters (they wrap past 2^31; all arithmetic is
// `| 0`), a record's slot is `idx & (capacity - 1)`. Only the writer advances writeIdx, only the
// reader advances readIdx. The writer fills a slot with plain stores and then publishes it with
// Atomics.store(writeIdx); the reader Atomics.load()s writeIdx before reading slots, and frees
// them with Atomics.store(readIdx) afterwards, so a record is never read half-written.
// A data-plane worker's writer publishes at most once per event-loop turn (`deferPublish`: a
// setImmediate after the turn's first record; flush() at once): Atomics.store is a full barrier,
// and one per request was ~1% of the worker's time under load (perf). The reader drains every
// 100 ms, so a record published one turn later is read no later.

/** Header Int32 indexes. */
export const H_WRITE = 0;
export const H_READ = 1;
export const H_DROPPED = 2;
export const H_CAPACITY = 3;
/** Header size: one cache line, so the slots start on their own line. */
export const HEADER_BYTES = 64;

/** Record field indexes: Int32 fields (F_*), counted from the record's first Int32. */
export const F_GENERATION = 0;
/** DIRECTION_OUTBOUND or DIRECTION_INBOUND */
export const F_DIRECTION = 1;
/** index into Snapshot.listeners */
export const F_LISTENER = 2;
/** index of the route inside its virtual host, -1 when none (inbound, no route) */
export const F_ROUTE = 3;
/** Snapshot.clusters id, -1 when none */
export const F_CLUSTER = 4;
/** index into the cluster's endpoints, -1 when none */
export const F_ENDPOINT = 5;
/** HTTP status sent downstream (0 when none could be sent) */
export const F_STATUS = 6;
/** flags.ts code, 0 = '-' */
export const F_FLAG = 7;
/** the far end's id in the worker's string table (src/stats/strings.ts, peer-key.ts); -1 when unknown */
export const F_PEER = 8;
/** inbound: the Host's id in the string table when no service selects the workload; -1 otherwise */
export const F_HOST = 9;
/** PROTOCOL_HTTP, or PROTOCOL_GRPC + 1 + the grpc-status (PROTOCOL_GRPC: gRPC without a status) */
export const F_PROTOCOL = 10;
/** what the record is: KIND_REQUEST, or one of the connection events (KIND_CONN_*) */
export const F_KIND = 11;
/** gRPC messages received from downstream / sent downstream (0 for other requests; at most 2^31 - 1) */
export const F_REQUEST_MESSAGES = 12;
export const F_RESPONSE_MESSAGES = 13;
export const INT_FIELDS = 14;
/** Record field indexes: Float64 fields (D_*), counted from the record's first Float64. */
/** request start → last byte to the client (or the end), microseconds */
export const D_TOTAL_US = 0;
/** upstream request sent → upstream response ended, microseconds; -1 when no upstream was used */
export const D_UPSTREAM_US = 1;
/** request bytes received from downstream */
export const D_BYTES_IN = 2;
/** response bytes sent downstream */
export const D_BYTES_OUT = 3;
export const FLOAT_FIELDS = 4;
/** Bytes of one record: the Int32 fields, then the Float64 fields (INT_FIELDS * 4 is a multiple of 8). */
export const RECORD_BYTES = INT_FIELDS * 4 + FLOAT_FIELDS * 8;
/** A record's size in Int32 / Float64 elements, and where its Float64 fields start (in Float64 elements). */
const RECORD_INTS = RECORD_BYTES / 4;
const RECORD_FLOATS = RECORD_BYTES / 8;
const FLOATS_AT = (INT_FIELDS * 4) / 8;
/** The largest message count a record carries. */
const MAX_INT = 0x7fffffff;

export const PROTOCOL_HTTP = 0;
export const PROTOCOL_GRPC = 1;

/** One HTTP request (every field above as named). */
export const KIND_REQUEST = 0;
/**
 * Connection records (TCP proxying, upgraded WebSockets): F_STATUS carries the connection's
 * protocol (CONN_TCP, CONN_WEBSOCKET), D_BYTES_IN / D_BYTES_OUT the bytes received from / sent to
 * the downstream since the connection's previous record; F_ROUTE, D_TOTAL_US, D_UPSTREAM_US,
 * F_HOST and F_PROTOCOL are unused.
 */
export const KIND_CONN_OPEN = 1;
/** a long-lived connection's bytes since its previous record */
export const KIND_CONN_BYTES = 2;
/** the connection closed (F_FLAG: its response flags) */
export const KIND_CONN_CLOSE = 3;
export const CONN_TCP = 0;
export const CONN_WEBSOCKET = 1;

export const DIRECTION_OUTBOUND = 0;
export const DIRECTION_INBOUND = 1;

/**
 * 16,384 records (1.4 MiB per worker): 0.5 s of requests at 30,000/s, five drain periods. Its
 * pages are all touched once the ring wraps, so this is resident memory: 65,536 cost 6.3 MiB of
 * RSS per worker (at 144 bytes a record) for headroom a 100 ms drain never used (same
 * throughput, measured A/B).
 */
export const DEFAULT_RING_CAPACITY = 16384;
export const MAX_RING_CAPACITY = 1 << 22;

/** Bytes of a ring's SharedArrayBuffer for `capacity` records. */
export function ringBytes(capacity: number): number {
  return HEADER_BYTES + capacity * RECORD_BYTES;
}

/** A new, empty ring. `capacity` must be a power of two in 2..MAX_RING_CAPACITY. */
export function createRing(capacity: number = DEFAULT_RING_CAPACITY): SharedArrayBuffer {
  if (!Number.isInteger(capacity) || capacity < 2 || capacity > MAX_RING_CAPACITY || (capacity & (capacity - 1)) !== 0) {
    throw new RangeError(`ring capacity must be a power of two in 2..${MAX_RING_CAPACITY}, got ${capacity}`);
  }
  const sab = new SharedArrayBuffer(ringBytes(capacity));
  new Int32Array(sab, 0, HEADER_BYTES / 4)[H_CAPACITY] = capacity;
  return sab;
}

interface OpenRing { header: Int32Array; ints: Int32Array; floats: Float64Array; capacity: number }

function openRing(sab: SharedArrayBuffer): OpenRing {
  if (!(sab instanceof SharedArrayBuffer) || sab.byteLength < HEADER_BYTES) throw new TypeError('not a stats ring');
  const header = new Int32Array(sab, 0, HEADER_BYTES / 4);
  const capacity = Atomics.load(header, H_CAPACITY);
  if (capacity < 2 || (capacity & (capacity - 1)) !== 0 || sab.byteLength !== ringBytes(capacity)) {
    throw new TypeError(`not a stats ring (capacity ${capacity}, ${sab.byteLength} bytes)`);
  }
  return { header, ints: new Int32Array(sab, HEADER_BYTES, capacity * RECORD_INTS), floats: new Float64Array(sab, HEADER_BYTES, capacity * RECORD_FLOATS), capacity };
}

/** A deferred publish (setImmediate) of a writer's records. */
function publishRing(writer: RingWriter): void {
  writer.flush();
}

/** The producer side. Exactly one RingWriter per ring, used from one thread. */
export class RingWriter {
  readonly capacity: number;
  private readonly header: Int32Array;
  private readonly ints: Int32Array;
  private readonly floats: Float64Array;
  private readonly mask: number;
  /** writeIdx as this writer last published it (nobody else changes it) */
  private w: number;
  /** readIdx as last seen; re-read only when the ring looks full */
  private r: number;
  /** publish once per event-loop turn (a data-plane worker) rather than once per record */
  private readonly deferPublish: boolean;
  /** a publish is due at the end of this turn */
  private publishDue = false;

  constructor(sab: SharedArrayBuffer, deferPublish = false) {
    this.deferPublish = deferPublish;
    const ring = openRing(sab);
    this.header = ring.header;
    this.ints = ring.ints;
    this.floats = ring.floats;
    this.capacity = ring.capacity;
    this.mask = ring.capacity - 1;
    this.w = Atomics.load(ring.header, H_WRITE);
    this.r = Atomics.load(ring.header, H_READ);
  }

  /** Appends one record; false (and `dropped` + 1) when the ring is full. Never blocks, never allocates. */
  write(
    generation: number, direction: number, listenerIndex: number, routeIndex: number, clusterId: number,
    endpointIndex: number, status: number, flagCode: number, totalUs: number, upstreamUs: number,
    bytesIn: number, bytesOut: number, peerId = -1, hostId = -1, protocol = PROTOCOL_HTTP,
    requestMessages = 0, responseMessages = 0,
  ): boolean {
    return this.put(generation, direction, listenerIndex, routeIndex, clusterId, endpointIndex, status, flagCode, peerId, hostId,
      protocol, KIND_REQUEST, requestMessages, responseMessages, totalUs, upstreamUs, bytesIn, bytesOut);
  }

  /** Appends one connection event record (KIND_CONN_*); false (and `dropped` + 1) when the ring is full. */
  writeConnection(
    generation: number, direction: number, listenerIndex: number, clusterId: number, endpointIndex: number,
    kind: number, protocol: number, flags: number, bytesIn: number, bytesOut: number, peerId = -1,
  ): boolean {
    return this.put(generation, direction, listenerIndex, -1, clusterId, endpointIndex, protocol, flags, peerId, -1,
      PROTOCOL_HTTP, kind, 0, 0, 0, -1, bytesIn, bytesOut);
  }

  /** One record, its Int32 fields in F_* order, then its Float64 fields in D_* order. */
  private put(
    generation: number, direction: number, listenerIndex: number, routeIndex: number, clusterId: number,
    endpointIndex: number, status: number, flagCode: number, peerId: number, hostId: number, protocol: number,
    kind: number, requestMessages: number, responseMessages: number,
    totalUs: number, upstreamUs: number, bytesIn: number, bytesOut: number,
  ): boolean {
    const r = this.claim();
    if (r < 0) return false;
    const i = this.ints;
    const o = r * RECORD_INTS;
    i[o] = generation;
    i[o + 1] = direction;
    i[o + 2] = listenerIndex;
    i[o + 3] = routeIndex;
    i[o + 4] = clusterId;
    i[o + 5] = endpointIndex;
    i[o + 6] = status;
    i[o + 7] = flagCode;
    i[o + 8] = peerId;
    i[o + 9] = hostId;
    i[o + 10] = protocol;
    i[o + 11] = kind;
    i[o + 12] = requestMessages < MAX_INT ? requestMessages : MAX_INT;
    i[o + 13] = responseMessages < MAX_INT ? responseMessages : MAX_INT;
    const f = this.floats;
    const d = r * RECORD_FLOATS + FLOATS_AT;
    f[d] = totalUs;
    f[d + 1] = upstreamUs;
    f[d + 2] = bytesIn;
    f[d + 3] = bytesOut;
    this.publish();
    return true;
  }

  /** The index of the next free record, or -1 (and `dropped` + 1) when the ring is full. */
  private claim(): number {
    const w = this.w;
    if (((w - this.r) | 0) >= this.capacity) {
      this.r = Atomics.load(this.header, H_READ);
      if (((w - this.r) | 0) >= this.capacity) {
        Atomics.add(this.header, H_DROPPED, 1);
        return -1;
      }
    }
    return w & this.mask;
  }

  /** The claimed record is written: the reader may take it (now, or at the end of this turn). */
  private publish(): void {
    this.w = (this.w + 1) | 0;
    if (!this.deferPublish) Atomics.store(this.header, H_WRITE, this.w);
    else if (!this.publishDue) {
      this.publishDue = true;
      setImmediate(publishRing, this);
    }
  }

  /** Every record written so far is published (a worker's last act before it drains or exits). */
  flush(): void {
    this.publishDue = false;
    Atomics.store(this.header, H_WRITE, this.w);
  }

  /** Records lost because the ring was full (since the ring was created). */
  get dropped(): number {
    return Atomics.load(this.header, H_DROPPED) >>> 0;
  }
}

/**
 * Called once per record with the ring's two views and where the record starts in each: its F_*
 * fields are `ints[io + F_…]`, its D_* fields `floats[fo + D_…]`.
 */
export type RecordVisitor = (ints: Int32Array, io: number, floats: Float64Array, fo: number) => void;

/** The consumer side. Exactly one RingReader per ring, used from one thread. */
export class RingReader {
  readonly capacity: number;
  private readonly header: Int32Array;
  private readonly ints: Int32Array;
  private readonly floats: Float64Array;
  private readonly mask: number;
  /** readIdx as this reader last published it */
  private r: number;

  constructor(sab: SharedArrayBuffer) {
    const ring = openRing(sab);
    this.header = ring.header;
    this.ints = ring.ints;
    this.floats = ring.floats;
    this.capacity = ring.capacity;
    this.mask = ring.capacity - 1;
    this.r = Atomics.load(ring.header, H_READ);
  }

  /**
   * Visits the records published so far (at most `max`), oldest first, then frees their slots.
   * The arrays passed to `visit` are the ring itself: read the fields inside the callback, keep
   * no reference. If `visit` throws, the records before it and the failing one count as read.
   */
  drain(visit: RecordVisitor, max: number = Infinity): number {
    const r = this.r;
    let n = (Atomics.load(this.header, H_WRITE) - r) | 0;
    if (n > max) n = max;
    if (n <= 0) return 0;
    const ints = this.ints;
    const floats = this.floats;
    const mask = this.mask;
    let i = 0;
    try {
      while (i < n) {
        const slot = (r + i) & mask;
        i++;
        visit(ints, slot * RECORD_INTS, floats, slot * RECORD_FLOATS + FLOATS_AT);
      }
    } finally {
      const next = (r + i) | 0;
      this.r = next;
      Atomics.store(this.header, H_READ, next);
    }
    return n;
  }

  /** Records published and not yet drained. */
  get pending(): number {
    return (Atomics.load(this.header, H_WRITE) - this.r) | 0;
  }

  /** Records the writer had to drop because the ring was full. */
  get dropped(): number {
    return Atomics.load(this.header, H_DROPPED) >>> 0;
  }
}
