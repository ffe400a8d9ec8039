// The per-worker stats ring: records intact, wrap-around, full ring drops without waiting, and a
// real producer thread against a concurrently draining consumer.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Worker } from 'node:worker_threads';
import {
  createRing, F_GENERATION, H_READ, H_WRITE, HEADER_BYTES, RingReader, RingWriter, ringBytes, RECORD_BYTES,
} from '../../../src/stats/ring.js';
import { measureRingWriteNs } from '../../../src/stats/ring-bench-util.js';
import { checkSeqRecord, writeSeqRecord } from './ring-records.js';
import type { RingWriterJob } from './ring-writer.worker.js';

/** Drains `reader`, checking every record; returns the seqs seen. */
function drainSeqs(reader: RingReader, max?: number): number[] {
  const seqs: number[] = [];
  reader.drain((i, o, f, d) => {
    seqs.push(checkSeqRecord(i, o, f, d));
  }, max);
  return seqs;
}

const range = (from: number, to: number): number[] => Array.from({ length: to - from + 1 }, (_, i) => from + i);

test('createRing: power-of-two capacity, header set, default 16384 records', () => {
  const sab = createRing();
  assert.equal(sab.byteLength, ringBytes(16384));
  assert.equal(sab.byteLength, HEADER_BYTES + 16384 * 88);
  assert.equal(RECORD_BYTES, 88);
  assert.equal(new RingReader(sab).capacity, 16384);
  assert.throws(() => createRing(1000), RangeError);
  assert.throws(() => createRing(1), RangeError);
  assert.throws(() => new RingReader(new SharedArrayBuffer(1024)), TypeError);
});

test('write N < capacity, drain all: every field intact, in order; a second drain reads nothing', () => {
  const sab = createRing(64);
  const w = new RingWriter(sab);
  const r = new RingReader(sab);
  for (let seq = 1; seq <= 50; seq++) assert.equal(writeSeqRecord(w, seq), true);
  assert.equal(r.pending, 50);
  assert.deepEqual(drainSeqs(r), range(1, 50));
  assert.equal(r.pending, 0);
  assert.deepEqual(drainSeqs(r), []);
  assert.equal(r.dropped, 0);
});

test('a deferring writer (a data-plane worker) publishes once at the end of the event-loop turn, or at flush()', async () => {
  const sab = createRing(64);
  const w = new RingWriter(sab, true);
  const r = new RingReader(sab);
  for (let seq = 1; seq <= 10; seq++) assert.equal(writeSeqRecord(w, seq), true);
  assert.equal(r.pending, 0, 'nothing is published within the turn');
  await new Promise((resolve) => setImmediate(resolve));
  assert.equal(r.pending, 10);
  assert.deepEqual(drainSeqs(r), range(1, 10));
  for (let seq = 11; seq <= 13; seq++) writeSeqRecord(w, seq);
  w.flush();
  assert.deepEqual(drainSeqs(r), range(11, 13));
  // a full ring still refuses at once and counts the drop, published or not
  for (let seq = 14; seq <= 77; seq++) assert.equal(writeSeqRecord(w, seq), true);
  assert.equal(writeSeqRecord(w, 78), false);
  assert.equal(w.dropped, 1);
  await new Promise((resolve) => setImmediate(resolve));
  assert.deepEqual(drainSeqs(r), range(14, 77));
});

test('wrap-around over many cycles, with partial drains (max)', () => {
  const sab = createRing(8);
  const w = new RingWriter(sab);
  const r = new RingReader(sab);
  let next = 1;
  const seen: number[] = [];
  for (let cycle = 0; cycle < 2000; cycle++) {
    const n = 1 + (cycle * 7) % 8; // 1..8 records, never more than free space after a full drain
    for (let i = 0; i < n; i++) assert.equal(writeSeqRecord(w, next++), true);
    seen.push(...drainSeqs(r, 1 + (cycle % 3)));
    seen.push(...drainSeqs(r));
  }
  assert.deepEqual(seen, range(1, next - 1));
  assert.equal(r.dropped, 0);
});

test('free-running counters wrap past 2^31 without losing or duplicating records', () => {
  const sab = createRing(16);
  const header = new Int32Array(sab, 0, 4);
  header[H_WRITE] = 2 ** 31 - 20;
  header[H_READ] = 2 ** 31 - 20;
  const w = new RingWriter(sab);
  const r = new RingReader(sab);
  let next = 1;
  const seen: number[] = [];
  for (let cycle = 0; cycle < 10; cycle++) {
    for (let i = 0; i < 16; i++) assert.equal(writeSeqRecord(w, next++), true);
    assert.equal(writeSeqRecord(w, 999_999), false, 'full at exactly capacity');
    seen.push(...drainSeqs(r));
  }
  assert.ok(Atomics.load(header, H_WRITE) < 0, 'the write counter went past 2^31');
  assert.deepEqual(seen, range(1, 160));
  assert.equal(r.dropped, 10);
});

test('full ring: write returns false at once, dropped counts, the stored records survive, space comes back after a drain', () => {
  const sab = createRing(4);
  const w = new RingWriter(sab);
  const r = new RingReader(sab);
  for (let seq = 1; seq <= 4; seq++) assert.equal(writeSeqRecord(w, seq), true);
  const t0 = performance.now();
  let falses = 0;
  for (let i = 0; i < 100_000; i++) if (!writeSeqRecord(w, 1000 + i)) falses++;
  const ms = performance.now() - t0;
  assert.equal(falses, 100_000);
  assert.equal(r.dropped, 100_000);
  assert.equal(w.dropped, 100_000);
  assert.ok(ms < 1000, `100k writes into a full ring took ${ms} ms`);
  assert.deepEqual(drainSeqs(r), [1, 2, 3, 4]);
  assert.equal(writeSeqRecord(w, 5), true);
  assert.deepEqual(drainSeqs(r), [5]);
});

test('a visitor that throws consumes the records up to and including the failing one', () => {
  const sab = createRing(8);
  const w = new RingWriter(sab);
  const r = new RingReader(sab);
  for (let seq = 1; seq <= 5; seq++) writeSeqRecord(w, seq);
  assert.throws(() => r.drain((i, o) => {
    if (i[o + F_GENERATION] === 3) throw new Error('boom');
  }), /boom/);
  assert.deepEqual(drainSeqs(r), [4, 5]);
});

interface WorkerResult { ok: number; failed: number; dropped: number }

/** Runs the writer worker on a ring of `capacity` while this thread drains every `everyMs`. */
async function crossThread(capacity: number, records: number, perMs: number, everyMs: number): Promise<{ result: WorkerResult; drained: number; bad: number; outOfOrder: number; reader: RingReader }> {
  const sab = createRing(capacity);
  const reader = new RingReader(sab);
  let drained = 0;
  let bad = 0;
  let outOfOrder = 0;
  let last = 0;
  const visit = (i: Int32Array, o: number, f: Float64Array, d: number): void => {
    const seq = checkSeqRecord(i, o, f, d);
    if (seq < 0) bad++;
    else if (seq <= last) outOfOrder++;
    else last = seq;
    drained++;
  };
  const job: RingWriterJob = { sab, records, perMs };
  const worker = new Worker(new URL('./ring-writer.worker.js', import.meta.url), { workerData: job });
  const timer = setInterval(() => reader.drain(visit), everyMs);
  try {
    const result = await new Promise<WorkerResult>((resolve, reject) => {
      worker.once('message', (m: WorkerResult) => resolve(m));
      worker.once('error', reject);
      worker.once('exit', (code) => reject(new Error(`writer worker exited (${code}) without reporting`)));
    });
    clearInterval(timer);
    reader.drain(visit); // the worker's last write was published before its message
    return { result, drained, bad, outOfOrder, reader };
  } finally {
    clearInterval(timer);
    await worker.terminate();
  }
}

test('cross-thread, small ring, writer flat out: drained + dropped == 200,000, every record whole and in order', async () => {
  const { result, drained, bad, outOfOrder, reader } = await crossThread(1024, 200_000, 0, 1);
  assert.equal(bad, 0);
  assert.equal(outOfOrder, 0);
  assert.equal(drained, result.ok);
  assert.equal(reader.dropped, result.failed);
  assert.equal(drained + reader.dropped, 200_000);
});

test('cross-thread, ring big enough for the drain period: 200,000 records through a 65,536 ring, none dropped', async () => {
  // ~1,000 records/ms: the drainer could stall ~60 ms before the ring filled up
  const { result, drained, bad, outOfOrder, reader } = await crossThread(65536, 200_000, 1000, 2);
  assert.equal(bad, 0);
  assert.equal(outOfOrder, 0);
  assert.equal(reader.dropped, 0);
  assert.equal(result.failed, 0);
  assert.equal(drained, 200_000);
});

test('measureRingWriteNs reports a per-record cost', () => {
  const ns = measureRingWriteNs(1_000_000);
  assert.ok(ns > 0 && ns < 2000, `ring write ${ns} ns`);
  console.log(`# ring write: ${ns.toFixed(1)} ns/record`);
});
