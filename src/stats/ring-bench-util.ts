// Micro-benchmark of RingWriter.write for bench/: the cost of one record on the request path.
// Single thread; the ring is drained between timed batches (draining is not timed).
import { createRing, RingReader, RingWriter } from './ring.js';

const noop = (): void => {};

/** Average ns per RingWriter.write over `records` writes (after a warm-up of the same code). */
export function measureRingWriteNs(records: number, capacity = 65536): number {
  const sab = createRing(capacity);
  const writer = new RingWriter(sab);
  const reader = new RingReader(sab);
  const batch = capacity >>> 1;
  const run = (count: number): number => {
    let ns = 0;
    let left = count;
    let seq = 0;
    while (left > 0) {
      const n = left < batch ? left : batch;
      const t0 = process.hrtime.bigint();
      for (let i = 0; i < n; i++) {
        seq++;
        writer.write(7, seq & 1, 2, 3, 4, 5, 200, 0, 1234 + (seq & 1023), 1000, 512, seq & 4095);
      }
      ns += Number(process.hrtime.bigint() - t0);
      reader.drain(noop);
      left -= n;
    }
    return ns;
  };
  run(Math.min(records, 200_000)); // warm-up: let the JIT optimise write()
  const ns = run(records);
  if (writer.dropped !== 0) throw new Error(`ring benchmark dropped ${writer.dropped} records`);
  return records > 0 ? ns / records : 0;
}
