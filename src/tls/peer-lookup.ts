// The data-plane side of the peer table: turns the PROXY v2 source address of a connection that
// came through the TLS front into the peer (principal, real client IP, x-forwarded-client-cert),
// decoded once per connection use and cached per slot in this worker.
import {
  ADDRESS_PREFIX_0, ADDRESS_PREFIX_1, F_FLAGS, F_IP_LEN, F_PRINCIPAL_LEN, F_RAND_A, F_RAND_B, F_SEQ, FLAG_MTLS,
  HEADER_BYTES, OFF_HASH, OFF_IP, OFF_PRINCIPAL, SLOT_BYTES, tableCapacity,
} from './peer-table.js';

export interface PeerInfo {
  /** the peer's SPIFFE id; '' for a plaintext connection (PERMISSIVE) or a certificate without one */
  principal: string;
  clientIp: string;
  /** x-forwarded-client-cert for the local app; '' when the connection was not mTLS */
  xfcc: string;
}

export class PeerLookup {
  private readonly i32: Int32Array;
  private readonly bytes: Buffer;
  private readonly capacity: number;
  private readonly seqs: Int32Array;
  private readonly randAs: Int32Array;
  private readonly randBs: Int32Array;
  private readonly peers: (PeerInfo | undefined)[];
  /** this sidecar's own SPIFFE id (the `By=` of x-forwarded-client-cert) */
  private ownId = '';

  constructor(sab: SharedArrayBuffer) {
    this.i32 = new Int32Array(sab);
    this.bytes = Buffer.from(sab);
    this.capacity = tableCapacity(sab);
    this.seqs = new Int32Array(this.capacity);
    this.randAs = new Int32Array(this.capacity);
    this.randBs = new Int32Array(this.capacity);
    this.peers = new Array<PeerInfo | undefined>(this.capacity);
  }

  /** A rotation that changes the sidecar's own id drops the cached x-forwarded-client-cert values. */
  setOwnId(spiffeId: string): void {
    if (spiffeId === this.ownId) return;
    this.ownId = spiffeId;
    this.seqs.fill(0);
    this.peers.fill(undefined);
  }

  /** The peer named by a 16-byte PROXY v2 source address; null when it names no live slot (forged, stale, or absent). */
  resolve(a: Uint8Array | null): PeerInfo | null {
    if (a === null || a.length !== 16) return null;
    if (a[0] !== ADDRESS_PREFIX_0 || a[1] !== ADDRESS_PREFIX_1) return null;
    const slot = ((a[2] as number) << 8) | (a[3] as number);
    if (slot >= this.capacity) return null;
    const seq = int32At(a, 4);
    const randA = int32At(a, 8);
    const randB = int32At(a, 12);
    if (seq === 0) return null;
    if (this.seqs[slot] === seq && this.randAs[slot] === randA && this.randBs[slot] === randB) return this.peers[slot] as PeerInfo;
    const peer = this.read(slot, seq, randA, randB);
    if (peer !== null) {
      this.seqs[slot] = seq;
      this.randAs[slot] = randA;
      this.randBs[slot] = randB;
      this.peers[slot] = peer;
    }
    return peer;
  }

  /** Seqlock read: the slot must carry this use's token before and after the copy. */
  private read(slot: number, seq: number, randA: number, randB: number): PeerInfo | null {
    const base = HEADER_BYTES + slot * SLOT_BYTES;
    const b32 = base >> 2;
    const i32 = this.i32;
    if (Atomics.load(i32, b32 + F_SEQ) !== seq || i32[b32 + F_RAND_A] !== randA || i32[b32 + F_RAND_B] !== randB) return null;
    const ipLen = i32[b32 + F_IP_LEN] as number;
    const pLen = i32[b32 + F_PRINCIPAL_LEN] as number;
    const mtls = ((i32[b32 + F_FLAGS] as number) & FLAG_MTLS) !== 0;
    const clientIp = this.bytes.toString('latin1', base + OFF_IP, base + OFF_IP + ipLen);
    const principal = this.bytes.toString('utf8', base + OFF_PRINCIPAL, base + OFF_PRINCIPAL + pLen);
    const hash = mtls ? this.bytes.toString('hex', base + OFF_HASH, base + OFF_HASH + 32) : '';
    if (Atomics.load(i32, b32 + F_SEQ) !== seq) return null;
    const xfcc = mtls ? `By=${this.ownId};Hash=${hash};URI=${principal}` : '';
    return { principal, clientIp, xfcc };
  }
}

function int32At(a: Uint8Array, i: number): number {
  return ((a[i] as number) << 24) | ((a[i + 1] as number) << 16) | ((a[i + 2] as number) << 8) | (a[i + 3] as number);
}
