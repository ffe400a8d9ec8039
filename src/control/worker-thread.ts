// How the control thread creates a data-plane worker thread: the V8 flags set before each one, its
// young-generation size, and which settings it is given at start.
import v8 from 'node:v8';
import { Worker } from 'node:worker_threads';
import type { DataPlaneSettings, WorkerOptions } from '../worker/protocol.js';

const WORKER_URL = new URL('../../workers/data-plane.js', import.meta.url);

/**
 * A worker's young generation (V8 sizes it as 3 semi-spaces: 2 MB each here). V8's default lets it
 * grow to 48 MB under load (16 MB semi-spaces), which is most of what a loaded worker adds to RSS;
 * a scavenge's cost is its survivors, not the space. Measured: 4 MB semi-spaces saved ~20 MB RSS
 * at no measurable throughput cost (bench:rss), 2 MB ~1.5 MB more at 1.009× req/s and 0.989× CPU per
 * request against 4 MB (bench:ab, bench/results/ab-bench-2026-12-03T18-34-27Z.md), 1 MB cost ≈ 20% req/s.
 */
const WORKER_YOUNG_GENERATION_MB = 6;

/**
 * meshlet's launchers (the bin's shebang, npm start, the benches) give node --max-semi-space-size=1:
 * the control thread's young generation stays at 1 MB semi-spaces (V8 grew it to 16 MB while the
 * config was read, and gave it back only ~10 s later). V8 takes that flag over a worker's
 * resourceLimits, so it is cleared before each worker is created (the control thread's heap was
 * sized at start and keeps its cap).
 */
function liftSemiSpaceCap(): void {
  v8.setFlagsFromString('--max-semi-space-size=0');
}

/**
 * Workers are created with V8's `gc` function on their global object: request/body-memory.ts calls
 * it after every few MB of streamed body. A worker that had to make it for itself
 * (vm.runInNewContext('gc') after the flag) kept a second V8 context alive for it, ~0.2 MB of heap.
 */
function exposeGcToWorkers(): void {
  v8.setFlagsFromString('--expose-gc');
}

/** Only the data-plane settings travel to workers (not the CLI's other options). */
export function dataPlaneSettings(o: DataPlaneSettings): DataPlaneSettings {
  return {
    codec: o.codec, connectionsPerEndpoint: o.connectionsPerEndpoint, upstreamQueueTimeoutMs: o.upstreamQueueTimeoutMs,
    upstreamIdleTimeoutMs: o.upstreamIdleTimeoutMs,
    connectTimeoutMs: o.connectTimeoutMs, logLevel: o.logLevel, accessLog: o.accessLog, accessLogSample: o.accessLogSample,
    stats: o.stats, retryBudgetRatio: o.retryBudgetRatio, retryBudgetMinPerSecond: o.retryBudgetMinPerSecond,
    tracing: o.tracing, h1: o.h1, pathNormalization: o.pathNormalization, workload: o.workload, peerMetadata: o.peerMetadata,
  };
}

/** A new data-plane worker thread, started with `data`. */
export function createWorker(data: WorkerOptions): Worker {
  liftSemiSpaceCap();
  exposeGcToWorkers();
  return new Worker(WORKER_URL, { workerData: data, resourceLimits: { maxYoungGenerationSizeMb: WORKER_YOUNG_GENERATION_MB } });
}
