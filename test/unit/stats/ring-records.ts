// Records whose every field is derived from a sequence number, so a reader can check that each
// record arrived whole and in order.
import {
  F_BYTES_IN, F_BYTES_OUT, F_CLUSTER, F_DIRECTION, F_ENDPOINT, F_FLAG, F_GENERATION, F_LISTENER, F_ROUTE, F_STATUS,
  F_TOTAL_US, F_UPSTREAM_US, type RingWriter,
} from '../../../src/stats/ring.js';

export function writeSeqRecord(w: RingWriter, seq: number): boolean {
  return w.write(seq, seq & 1, seq % 7, (seq % 4) - 1, (seq % 5) - 1, seq % 3, 200 + (seq % 300), seq % 16,
    seq * 3 + 0.25, seq % 2 === 0 ? -1 : seq * 2, seq * 1_000_003, seq + 0.5);
}

/** Returns the record's seq, or -1 when a field does not match it. */
export function checkSeqRecord(f: Float64Array, o: number): number {
  const seq = f[o + F_GENERATION] as number;
  const ok = f[o + F_DIRECTION] === (seq & 1)
    && f[o + F_LISTENER] === seq % 7
    && f[o + F_ROUTE] === (seq % 4) - 1
    && f[o + F_CLUSTER] === (seq % 5) - 1
    && f[o + F_ENDPOINT] === seq % 3
    && f[o + F_STATUS] === 200 + (seq % 300)
    && f[o + F_FLAG] === seq % 16
    && f[o + F_TOTAL_US] === seq * 3 + 0.25
    && f[o + F_UPSTREAM_US] === (seq % 2 === 0 ? -1 : seq * 2)
    && f[o + F_BYTES_IN] === seq * 1_000_003
    && f[o + F_BYTES_OUT] === seq + 0.5;
  return ok ? seq : -1;
}
