// Records whose every field is derived from a sequence number, so a reader can check that each
// record arrived whole and in order.
import {
  D_BYTES_IN, D_BYTES_OUT, D_TOTAL_US, D_UPSTREAM_US, F_CLUSTER, F_DIRECTION, F_ENDPOINT, F_FLAG, F_GENERATION,
  F_LISTENER, F_REQUEST_MESSAGES, F_RESPONSE_MESSAGES, F_ROUTE, F_STATUS, type RingWriter,
} from '../../../src/stats/ring.js';

export function writeSeqRecord(w: RingWriter, seq: number): boolean {
  return w.write(seq, seq & 1, seq % 7, (seq % 4) - 1, (seq % 5) - 1, seq % 3, 200 + (seq % 300), seq % 16,
    seq * 3 + 0.25, seq % 2 === 0 ? -1 : seq * 2, seq * 1_000_003, seq + 0.5, -1, -1, 0, seq * 5, seq % 2 === 0 ? 2 ** 40 : seq);
}

/** Returns the record's seq, or -1 when a field does not match it. */
export function checkSeqRecord(i: Int32Array, o: number, f: Float64Array, d: number): number {
  const seq = i[o + F_GENERATION] as number;
  const ok = i[o + F_DIRECTION] === (seq & 1)
    && i[o + F_LISTENER] === seq % 7
    && i[o + F_ROUTE] === (seq % 4) - 1
    && i[o + F_CLUSTER] === (seq % 5) - 1
    && i[o + F_ENDPOINT] === seq % 3
    && i[o + F_STATUS] === 200 + (seq % 300)
    && i[o + F_FLAG] === seq % 16
    && i[o + F_REQUEST_MESSAGES] === seq * 5
    // a count past Int32 is carried as the largest one
    && i[o + F_RESPONSE_MESSAGES] === (seq % 2 === 0 ? 0x7fffffff : seq)
    && f[d + D_TOTAL_US] === seq * 3 + 0.25
    && f[d + D_UPSTREAM_US] === (seq % 2 === 0 ? -1 : seq * 2)
    && f[d + D_BYTES_IN] === seq * 1_000_003
    && f[d + D_BYTES_OUT] === seq + 0.5;
  return ok ? seq : -1;
}
