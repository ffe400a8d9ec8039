// Closed-loop gRPC unary load for the HTTP/2 bench: `node dist/bench/grpc-load.js '<json spec>'`
// with {target: "host:port", authority, concurrency, durationS, warmupS}: one grpc-js channel
// (one HTTP/2 connection), `concurrency` calls in flight, a 100-byte message each. Prints one JSON
// line: calls/s, p50/p99 latency (ms, from the calls after the warm-up), errors, calls.
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { build } from 'hdr-histogram-js';

interface Spec { target: string; authority: string; concurrency: number; durationS: number; warmupS: number }
type Unary = (req: unknown, md: grpc.Metadata, opts: grpc.CallOptions, cb: (err: grpc.ServiceError | null) => void) => void;

const spec = JSON.parse(process.argv[2] ?? '{}') as Spec;
const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
const def = protoLoader.loadSync(path.join(REPO_ROOT, 'test/fixtures/grpc/echo.proto'), { keepCase: true, defaults: true });
const pkg = grpc.loadPackageDefinition(def) as unknown as { meshlet: { test: { Echo: grpc.ServiceClientConstructor } } };
const client = new pkg.meshlet.test.Echo(spec.target, grpc.credentials.createInsecure(), { 'grpc.default_authority': spec.authority }) as unknown as grpc.Client & { Unary: Unary };
const hist = build({ lowestDiscernibleValue: 1, highestTrackableValue: 60_000_000, numberOfSignificantValueDigits: 3 });
const message = { text: 'x'.repeat(90), payload: Buffer.alloc(0), seq: 1 };
const md = new grpc.Metadata();
const t0 = performance.now();
const measureFrom = t0 + spec.warmupS * 1000;
const end = measureFrom + spec.durationS * 1000;
let calls = 0;
let errors = 0;
let lastError = '';
let running = 0;

function one(): void {
  const start = performance.now();
  if (start >= end) {
    if (--running === 0) done();
    return;
  }
  client.Unary(message, md, {}, (err) => {
    const now = performance.now();
    if (start >= measureFrom) {
      if (err === null) {
        calls++;
        hist.recordValue(Math.max(1, Math.round((now - start) * 1000)));
      } else {
        errors++;
        lastError = err.message;
      }
    }
    one();
  });
}

function done(): void {
  const us = (q: number): number => hist.getValueAtPercentile(q) / 1000;
  process.stdout.write(`${JSON.stringify({ rps: calls / spec.durationS, p50Ms: us(50), p99Ms: us(99), errors, requests: calls, lastError })}\n`);
  client.close();
  process.exit(0);
}

client.waitForReady(Date.now() + 10_000, (err) => {
  if (err !== undefined && err !== null) {
    process.stdout.write(`${JSON.stringify({ error: err.message })}\n`);
    process.exit(1);
  }
  for (; running < spec.concurrency; running++) one();
});
