// The peer identity table: a SharedArrayBuffer the control thread creates and hands to the TLS
// front (the only writer) and every data-plane worker (readers). One slot per connection the front
// forwards; the slot's index and a per-use token travel in the PROXY v2 source address.
//
//   header (64 bytes): Int32 [capacity, slotBytes]
//   slot i at 64 + i × SLOT_BYTES:
//     0 seq (≠ 0 while in use; stored last on write, zeroed first on release — a seqlock)
//     4 randA  8 randB (random per use)   12 ipLen  16 principalLen  20 flags (1 = mTLS peer)
//     32..63 sha256 of the peer certificate (DER)   64..111 client IP (latin1)   112.. principal (utf8)
//
//   address (16 bytes, IPv6 fd6d::/16): fd 6d | slot u16 | seq u32 | randA u32 | randB u32
import { randomFillSync } from 'node:crypto';

export const HEADER_BYTES = 64;
export const PRINCIPAL_MAX = 512;
export const IP_MAX = 48;
export const SLOT_BYTES = 112 + PRINCIPAL_MAX;
export const MAX_CAPACITY = 65_536;
export const DEFAULT_CAPACITY = 8192;
export const FLAG_MTLS = 1;
export const ADDRESS_PREFIX_0 = 0xfd;
export const ADDRESS_PREFIX_1 = 0x6d;

// Int32 field indexes within a slot
export const F_SEQ = 0;
export const F_RAND_A = 1;
export const F_RAND_B = 2;
export const F_IP_LEN = 3;
export const F_PRINCIPAL_LEN = 4;
export const F_FLAGS = 5;
export const OFF_HASH = 32;
export const OFF_IP = 64;
export const OFF_PRINCIPAL = 112;

export function createPeerTable(capacity = DEFAULT_CAPACITY): SharedArrayBuffer {
  if (!(capacity >= 1 && capacity <= MAX_CAPACITY)) throw new Error(`peer table capacity must be 1..${MAX_CAPACITY}`);
  const sab = new SharedArrayBuffer(HEADER_BYTES + capacity * SLOT_BYTES);
  const head = new Int32Array(sab, 0, 2);
  head[0] = capacity;
  head[1] = SLOT_BYTES;
  return sab;
}

export function tableCapacity(sab: SharedArrayBuffer): number {
  return new Int32Array(sab, 0, 1)[0] as number;
}

/** The front's side: allocates slots (LIFO free list, so hot slots reuse the same pages), writes, releases. */
export class PeerSlots {
  readonly capacity: number;
  private readonly i32: Int32Array;
  private readonly bytes: Buffer;
  private readonly free: Int32Array;
  private freeTop: number;
  private seq = 0;
  private readonly rand = new Int32Array(256);
  private randLeft = 0;

  constructor(sab: SharedArrayBuffer) {
    this.capacity = tableCapacity(sab);
    this.i32 = new Int32Array(sab);
    this.bytes = Buffer.from(sab);
    this.free = new Int32Array(this.capacity);
    // a (re)started front owns every slot: whatever a previous front left is invalidated
    for (let i = 0; i < this.capacity; i++) {
      Atomics.store(this.i32, this.base32(i) + F_SEQ, 0);
      this.free[i] = this.capacity - 1 - i;
    }
    this.freeTop = this.capacity;
  }

  get inUse(): number { return this.capacity - this.freeTop; }

  /** Writes a peer into a free slot; -1 when the table is full (the caller refuses the connection). */
  alloc(clientIp: string, principal: string, certHash: Buffer | null): number {
    if (this.freeTop === 0) return -1;
    const slot = this.free[--this.freeTop] as number;
    const b32 = this.base32(slot);
    const base = HEADER_BYTES + slot * SLOT_BYTES;
    const i32 = this.i32;
    const ipLen = this.bytes.write(clientIp, base + OFF_IP, IP_MAX, 'latin1');
    const pLen = this.bytes.write(principal, base + OFF_PRINCIPAL, PRINCIPAL_MAX, 'utf8');
    if (certHash !== null) certHash.copy(this.bytes, base + OFF_HASH, 0, 32);
    i32[b32 + F_IP_LEN] = ipLen;
    i32[b32 + F_PRINCIPAL_LEN] = pLen;
    i32[b32 + F_FLAGS] = certHash === null ? 0 : FLAG_MTLS;
    i32[b32 + F_RAND_A] = this.random();
    i32[b32 + F_RAND_B] = this.random();
    if (++this.seq > 0x7fffffff) this.seq = 1;
    Atomics.store(i32, b32 + F_SEQ, this.seq); // publishes the slot
    return slot;
  }

  /** The PROXY v2 source address naming this slot's current use. */
  address(slot: number, out: Buffer, offset: number): void {
    const b32 = this.base32(slot);
    out[offset] = ADDRESS_PREFIX_0;
    out[offset + 1] = ADDRESS_PREFIX_1;
    out.writeUInt16BE(slot, offset + 2);
    out.writeInt32BE(this.i32[b32 + F_SEQ] as number, offset + 4);
    out.writeInt32BE(this.i32[b32 + F_RAND_A] as number, offset + 8);
    out.writeInt32BE(this.i32[b32 + F_RAND_B] as number, offset + 12);
  }

  release(slot: number): void {
    Atomics.store(this.i32, this.base32(slot) + F_SEQ, 0); // readers holding the old address now miss
    this.free[this.freeTop++] = slot;
  }

  private base32(slot: number): number {
    return (HEADER_BYTES + slot * SLOT_BYTES) >> 2;
  }

  private random(): number {
    if (this.randLeft === 0) {
      randomFillSync(this.rand);
      this.randLeft = this.rand.length;
    }
    return this.rand[--this.randLeft] as number;
  }
}
