// `npm run bench:ring`: the per-record cost of the stats ring writer (ns), median of 5 runs.
import { measureRingWriteNs } from '../src/stats/ring-bench-util.js';

const RECORDS = 2_000_000;
const runs = Array.from({ length: 5 }, () => measureRingWriteNs(RECORDS));
runs.sort((a, b) => a - b);
process.stdout.write(`stats ring write: ${runs[2]?.toFixed(1)} ns/record (median of 5 × ${RECORDS} records; runs: ${runs.map((r) => r.toFixed(1)).join(', ')})\n`);
