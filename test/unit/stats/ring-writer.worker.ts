// Worker for ring.test.ts's cross-thread test: writes `records` records into the ring it is given,
// optionally paced to `perMs` records per millisecond, then reports how many write() calls failed.
// Does nothing when loaded outside a worker (the test runner may load every file under test/).
import { parentPort, workerData } from 'node:worker_threads';
import { RingWriter } from '../../../src/stats/ring.js';
import { writeSeqRecord } from './ring-records.js';

export interface RingWriterJob {
  sab: SharedArrayBuffer;
  records: number;
  /** 0 = as fast as possible */
  perMs: number;
}

if (parentPort !== null) {
  const port = parentPort;
  const job = workerData as RingWriterJob;
  const writer = new RingWriter(job.sab);
  let ok = 0;
  let failed = 0;
  const start = performance.now();
  for (let seq = 1; seq <= job.records; seq++) {
    if (writeSeqRecord(writer, seq)) ok++;
    else failed++;
    if (job.perMs > 0 && seq % 100 === 0) {
      const due = start + seq / job.perMs;
      while (performance.now() < due) { /* pacing, not synchronisation */ }
    }
  }
  port.postMessage({ ok, failed, dropped: writer.dropped });
}
