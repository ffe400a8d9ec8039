// Per-worker request-record ring: one SharedArrayBuffer, one producer (the worker's request path,
// RingWriter) and one consumer (the control thread, RingReader). The writer never waits: when the
// ring is full the record is counted in `dropped` and lost. Layout:
//
//   byte 0                                                        byte 64
//   +-----------+-----------+-----------+-----------+---- pad ----+
//   | writeIdx  | readIdx   | dropped   | capacity  | (reserved)  |   header: Int32Array(16)
//   +-----------+-----------+-----------+-----------+-------------+
//   | record 0: FIELDS x Float64 (generation, direction, ... messages)|  slots: Float64Array
//   | record 1                                                      |  (capacity * FIELDS)
//   | ...                                                           |
//   | record capacity-1                                             |
//   +---------------------------------------------------------------+
//
// writeIdx/readIdx are free-running Int32 counters (they wrap past 2^31; all arithmetic is
// `| 0`), a record's slot is `idx & (capacity - 1)`. Only the writer advances writeIdx, only the
// reader advances readIdx. The writer fills a slot with plain stores and then publishes it with
// Atomics.store(writeIdx); the reader Atomics.load()s writeIdx before reading slots, and frees
// them with Atomics.store(readIdx) afterwards, so a record is never read half-written.

/** Header Int32 indexes. */
export const H_WRITE = 0;
export const H_READ = 1;
export const H_DROPPED = 2;
export const H_CAPACITY = 3;
/** Header size: one cache line, so the slots start on their own line. */
export const HEADER_BYTES = 64;

/** Record field indexes (Float64 each). */
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
/** request start → last byte to the client (or the end), microseconds */
export const F_TOTAL_US = 8;
/** upstream request sent → upstream response ended, microseconds; -1 when no upstream was used */
export const F_UPSTREAM_US = 9;
/** request bytes received from downstream */
export const F_BYTES_IN = 10;
/** response bytes sent downstream */
export const F_BYTES_OUT = 11;
/** the far end's id in the worker's string table (src/stats/strings.ts, peer-key.ts); -1 when unknown */
export const F_PEER = 12;
/** inbound: the Host's id in the string table when no service selects the workload; -1 otherwise */
export const F_HOST = 13;
/** PROTOCOL_HTTP, or PROTOCOL_GRPC + 1 + the grpc-status (PROTOCOL_GRPC: gRPC without a status) */
export const F_PROTOCOL = 14;
/** what the record is: KIND_REQUEST, or one of the connection events (KIND_CONN_*) */
export const F_KIND = 15;
/** gRPC messages received from downstream / sent downstream (0 for other requests) */
export const F_REQUEST_MESSAGES = 16;
export const F_RESPONSE_MESSAGES = 17;
export const FIELDS = 18;

export const PROTOCOL_HTTP = 0;
export const PROTOCOL_GRPC = 1;

/** One HTTP request (every field above as named). */
export const KIND_REQUEST = 0;
/**
 * Connection records (TCP proxying, upgraded WebSockets): F_STATUS carries the connection's
 * protocol (CONN_TCP, CONN_WEBSOCKET), F_BYTES_IN / F_BYTES_OUT the bytes received from / sent to
 * the downstream since the connection's previous record; F_ROUTE, F_TOTAL_US, F_UPSTREAM_US,
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
 * 16,384 records (2.3 MiB per worker): 0.5 s of requests at 30,000/s, five drain periods. Its
 * pages are all touched once the ring wraps, so this is resident memory: 65,536 cost 6.3 MiB of
 * RSS per worker for headroom a 100 ms drain never used (same throughput, measured A/B).
 */
export const DEFAULT_RING_CAPACITY = 16384;
export const MAX_RING_CAPACITY = 1 << 22;

/** Bytes of a ring's SharedArrayBuffer for `capacity` records. */
export function ringBytes(capacity: number): number {
  return HEADER_BYTES + capacity * FIELDS * Float64Array.BYTES_PER_ELEMENT;
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

function openRing(sab: SharedArrayBuffer): { header: Int32Array; slots: Float64Array; capacity: number } {
  if (!(sab instanceof SharedArrayBuffer) || sab.byteLength < HEADER_BYTES) throw new TypeError('not a stats ring');
  const header = new Int32Array(sab, 0, HEADER_BYTES / 4);
  const capacity = Atomics.load(header, H_CAPACITY);
  if (capacity < 2 || (capacity & (capacity - 1)) !== 0 || sab.byteLength !== ringBytes(capacity)) {
    throw new TypeError(`not a stats ring (capacity ${capacity}, ${sab.byteLength} bytes)`);
  }
  return { header, slots: new Float64Array(sab, HEADER_BYTES, capacity * FIELDS), capacity };
}

/** The producer side. Exactly one RingWriter per ring, used from one thread. */
export class RingWriter {
  readonly capacity: number;
  private readonly header: Int32Array;
  private readonly slots: Float64Array;
  private readonly mask: number;
  /** writeIdx as this writer last published it (nobody else changes it) */
  private w: number;
  /** readIdx as last seen; re-read only when the ring looks full */
  private r: number;

  constructor(sab: SharedArrayBuffer) {
    const ring = openRing(sab);
    this.header = ring.header;
    this.slots = ring.slots;
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
    const o = this.claim();
    if (o < 0) return false;
    const s = this.slots;
    s[o] = generation;
    s[o + 1] = direction;
    s[o + 2] = listenerIndex;
    s[o + 3] = routeIndex;
    s[o + 4] = clusterId;
    s[o + 5] = endpointIndex;
    s[o + 6] = status;
    s[o + 7] = flagCode;
    s[o + 8] = totalUs;
    s[o + 9] = upstreamUs;
    s[o + 10] = bytesIn;
    s[o + 11] = bytesOut;
    s[o + 12] = peerId;
    s[o + 13] = hostId;
    s[o + 14] = protocol;
    s[o + 15] = KIND_REQUEST;
    s[o + 16] = requestMessages;
    s[o + 17] = responseMessages;
    this.publish();
    return true;
  }

  /** Appends one connection event record (KIND_CONN_*); false (and `dropped` + 1) when the ring is full. */
  writeConnection(
    generation: number, direction: number, listenerIndex: number, clusterId: number, endpointIndex: number,
    kind: number, protocol: number, flags: number, bytesIn: number, bytesOut: number, peerId = -1,
  ): boolean {
    const o = this.claim();
    if (o < 0) return false;
    const s = this.slots;
    s[o] = generation;
    s[o + 1] = direction;
    s[o + 2] = listenerIndex;
    s[o + 3] = -1;
    s[o + 4] = clusterId;
    s[o + 5] = endpointIndex;
    s[o + 6] = protocol;
    s[o + 7] = flags;
    s[o + 8] = 0;
    s[o + 9] = -1;
    s[o + 10] = bytesIn;
    s[o + 11] = bytesOut;
    s[o + 12] = peerId;
    s[o + 13] = -1;
    s[o + 14] = PROTOCOL_HTTP;
    s[o + 15] = kind;
    s[o + 16] = 0;
    s[o + 17] = 0;
    this.publish();
    return true;
  }

  /** The offset of the next free record's first field, or -1 (and `dropped` + 1) when the ring is full. */
  private claim(): number {
    const w = this.w;
    if (((w - this.r) | 0) >= this.capacity) {
      this.r = Atomics.load(this.header, H_READ);
      if (((w - this.r) | 0) >= this.capacity) {
        Atomics.add(this.header, H_DROPPED, 1);
        return -1;
      }
    }
    return (w & this.mask) * FIELDS;
  }

  /** The claimed record is written: the reader may take it. */
  private publish(): void {
    const next = (this.w + 1) | 0;
    this.w = next;
    Atomics.store(this.header, H_WRITE, next);
  }

  /** Records lost because the ring was full (since the ring was created). */
  get dropped(): number {
    return Atomics.load(this.header, H_DROPPED) >>> 0;
  }
}

/** Called once per record with the ring's backing array and the record's first slot. */
export type RecordVisitor = (f: Float64Array, offset: number) => void;

/** The consumer side. Exactly one RingReader per ring, used from one thread. */
export class RingReader {
  readonly capacity: number;
  private readonly header: Int32Array;
  private readonly slots: Float64Array;
  private readonly mask: number;
  /** readIdx as this reader last published it */
  private r: number;

  constructor(sab: SharedArrayBuffer) {
    const ring = openRing(sab);
    this.header = ring.header;
    this.slots = ring.slots;
    this.capacity = ring.capacity;
    this.mask = ring.capacity - 1;
    this.r = Atomics.load(ring.header, H_READ);
  }

  /**
   * Visits the records published so far (at most `max`), oldest first, then frees their slots.
   * The array passed to `visit` is the ring itself: read the fields inside the callback, keep no
   * reference. If `visit` throws, the records before it and the failing one count as read.
   */
  drain(visit: RecordVisitor, max: number = Infinity): number {
    const r = this.r;
    let n = (Atomics.load(this.header, H_WRITE) - r) | 0;
    if (n > max) n = max;
    if (n <= 0) return 0;
    const s = this.slots;
    const mask = this.mask;
    let i = 0;
    try {
      while (i < n) {
        const o = ((r + i) & mask) * FIELDS;
        i++;
        visit(s, o);
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
