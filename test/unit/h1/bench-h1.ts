// Micro-benchmark, h1 vs undici codec, same run: sequential keep-alive GETs (one connection) and
// 64 concurrent GETs over 8 connections, against a raw 127.0.0.1 upstream in a worker thread.
// Run: node dist/test/unit/h1/bench-h1.js [seconds-per-case]. Does nothing under `node --test`.
import { Worker } from 'node:worker_threads';
import type { UpstreamCodec, UpstreamController, UpstreamHandler, UpstreamPool, UpstreamRequest } from '../../../src/upstream/codec.js';
import type { ProxyError } from '../../../src/http/errors.js';
import { h1Codec } from '../../../src/upstream/h1/index.js';
import { undiciCodec } from '../../../src/upstream/undici-codec.js';

const SERVER = `
const net = require('node:net');
const { parentPort, workerData } = require('node:worker_threads');
const body = Buffer.alloc(workerData.bodySize, 0x61);
const response = Buffer.concat([Buffer.from('HTTP/1.1 200 OK\\r\\nContent-Type: text/plain\\r\\nDate: Thu, 01 Jan 2026 00:00:00 GMT\\r\\nContent-Length: ' + body.length + '\\r\\n\\r\\n'), body]);
const server = net.createServer((s) => {
  s.setNoDelay(true);
  let tail = '';
  s.on('data', (d) => {
    const text = tail + d.toString('latin1');
    let n = 0, i = 0;
    for (;;) { const j = text.indexOf('\\r\\n\\r\\n', i); if (j < 0) break; n++; i = j + 4; }
    tail = text.slice(i);
    if (n === 1) s.write(response); else if (n > 1) s.write(Buffer.concat(Array(n).fill(response)));
  });
  s.on('error', () => {});
});
server.listen(0, '127.0.0.1', () => parentPort.postMessage(server.address().port));
`;

class Sink implements UpstreamHandler {
  onDone: (() => void) | null = null;
  bytes = 0;
  errors = 0;
  onUpstreamStart(_c: UpstreamController): void {}
  onUpstreamHeaders(_s: number, _h: string[]): void {}
  onUpstreamData(chunk: Buffer): void { this.bytes += chunk.length; }
  onUpstreamEnd(): void { this.onDone?.(); }
  onUpstreamError(_e: ProxyError): void { this.errors++; this.onDone?.(); }
}

function req(port: number): UpstreamRequest {
  return {
    method: 'GET',
    path: '/bench?x=1',
    headers: ['host', `127.0.0.1:${port}`, 'user-agent', 'bench', 'accept', '*/*', 'x-request-id', '6f1c9c2e-6d7b-4b8e-9a51-3b2f0a4c5d6e', 'x-forwarded-for', '127.0.0.1', 'x-forwarded-proto', 'http'],
    body: null,
    contentLength: -1,
  };
}

/** `concurrency` loops, each dispatching its next request from onUpstreamEnd. Returns requests/s. */
function run(pool: UpstreamPool, port: number, concurrency: number, ms: number): Promise<{ rps: number; errors: number }> {
  return new Promise((resolve) => {
    const deadline = performance.now() + ms;
    const start = performance.now();
    let count = 0;
    let errors = 0;
    let live = concurrency;
    for (let i = 0; i < concurrency; i++) {
      const sink = new Sink();
      const r = req(port);
      sink.onDone = () => {
        count++;
        errors += sink.errors;
        sink.errors = 0;
        if (performance.now() < deadline) {
          pool.dispatch(r, sink);
        } else if (--live === 0) {
          resolve({ rps: count / ((performance.now() - start) / 1000), errors });
        }
      };
      pool.dispatch(r, sink);
    }
  });
}

async function main(): Promise<void> {
  const seconds = Number(process.argv[2] ?? 3);
  const results: string[] = [];
  for (const bodySize of [64, 16 * 1024]) {
    const worker = new Worker(SERVER, { eval: true, workerData: { bodySize } });
    const port = await new Promise<number>((resolve) => worker.once('message', resolve));
    for (const [label, concurrency, connections] of [['sequential keep-alive', 1, 1], ['64 concurrent / 8 conns', 64, 8]] as const) {
      for (const round of [0, 1]) {
        for (const codec of [undiciCodec, h1Codec] as UpstreamCodec[]) {
          const pool = codec.createPool('127.0.0.1', port, { connections, idleTimeoutMs: 4000, connectTimeoutMs: 2000, maxRequestsPerConnection: 0, queueTimeoutMs: 0 });
          await run(pool, port, concurrency, 300); // warm-up
          const { rps, errors } = await run(pool, port, concurrency, seconds * 1000);
          await pool.close();
          if (round === 1) results.push(`${label.padEnd(24)} body ${String(bodySize).padStart(5)} B  ${codec.name.padEnd(6)} ${Math.round(rps).toString().padStart(7)} req/s${errors > 0 ? `  (${errors} errors)` : ''}`);
        }
      }
    }
    await worker.terminate();
  }
  console.log(results.join('\n'));
}

if (process.env.NODE_TEST_CONTEXT === undefined) void main();
