// The peer bench's pure parts: openloop's JSON line, the field-by-field median of runs, the p99
// added over direct, and the latency table. No timing is asserted.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseOpenloop, type FixedRateResult } from '../../../bench/openloop.js';
import { addedP99, medianResult, renderLatencyTable, saturated, type LatencyRow } from '../../../bench/peer-report.js';

const LINE = '{"rate":2000.0,"duration_s":3.000,"connections":50,"scheduled":6000,"sent":5990,"completed":5985,"errors":2,"timeouts":3,'
  + '"non2xx":1,"reconnects":2,"achieved_rps":1995.0,"latency_ms":{"p50":0.210,"p90":0.400,"p99":1.500,"p999":4.250,"max":9.000,"mean":0.300}}';

function result(p99Ms: number, extra: Partial<FixedRateResult> = {}): FixedRateResult {
  return { rate: 2000, achievedRps: 2000, completed: 20_000, errors: 0, unsent: 0, p50Ms: 0.2, p90Ms: 0.4, p99Ms, p999Ms: p99Ms * 2, ...extra };
}

test('parseOpenloop reads the last JSON line: errors add timeouts and non-2xx, unsent is scheduled − sent', () => {
  const r = parseOpenloop(`compiler noise\n${LINE}\n`);
  assert.deepEqual(r, { rate: 2000, achievedRps: 1995, completed: 5985, errors: 6, unsent: 10, p50Ms: 0.21, p90Ms: 0.4, p99Ms: 1.5, p999Ms: 4.25 });
});

test('parseOpenloop turns openloop\'s {"error"} answer into an exception', () => {
  assert.throws(() => parseOpenloop('{"error":"connect: Connection refused"}\n'), /openloop: connect: Connection refused/);
});

test('medianResult takes each field\'s median separately (runs are not mixed into one run)', () => {
  const m = medianResult([result(3, { p50Ms: 0.1 }), result(1, { p50Ms: 0.3 }), result(2, { p50Ms: 0.2, errors: 4 })]);
  assert.equal(m.p99Ms, 2);
  assert.equal(m.p50Ms, 0.2);
  assert.equal(m.errors, 0);
  assert.equal(medianResult([result(1), result(4)]).p99Ms, 2.5);
});

test('addedP99 is the p99 over direct\'s at the same rate; the table shows it signed and flags saturation', () => {
  const rows: LatencyRow[] = [
    { target: 'direct', rate: 2000, result: result(0.5), cpuMsPer10k: null },
    { target: 'direct', rate: 5000, result: result(0.8, { rate: 5000 }), cpuMsPer10k: null },
    { target: 'meshlet (1 worker)', rate: 2000, result: result(1.75), cpuMsPer10k: 550 },
    { target: 'meshlet (1 worker)', rate: 5000, result: result(40, { rate: 5000, achievedRps: 4100, unsent: 900 }), cpuMsPer10k: 600 },
    { target: 'haproxy', rate: 2000, result: null, cpuMsPer10k: null, error: 'haproxy exited (1) before it was ready; its output:\n…' },
  ];
  assert.equal(addedP99(rows[2] as LatencyRow, rows), 1.25);
  assert.equal(addedP99(rows[4] as LatencyRow, rows), null);
  assert.equal(saturated((rows[3] as LatencyRow).result as FixedRateResult), true);
  assert.equal(saturated(result(1)), false);
  const table = renderLatencyTable(rows).split('\n');
  assert.equal(table.length, 2 + rows.length);
  assert.match(table[4] as string, /^\| meshlet \(1 worker\) \| 2000 \| 2000 \| 0\.20 \| 0\.40 \| 1\.75 \| 3\.50 \| \+1\.25 \| 0 \| 550\.0 \|$/);
  assert.match(table[5] as string, /4100 \(saturated, 900 unsent\)/);
  assert.match(table[6] as string, /\| haproxy \| 2000 \| failed: haproxy exited \(1\) before it was ready \|/);
});
