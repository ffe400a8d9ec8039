// Worker thread entry; the logic lives in src/worker/data-plane.ts.
import { parentPort, workerData } from 'node:worker_threads';
import { runDataPlane } from '../src/worker/data-plane.js';
import type { WorkerOptions } from '../src/worker/protocol.js';

if (parentPort === null) throw new Error('workers/data-plane.js must run as a worker thread');
await runDataPlane(workerData as WorkerOptions, parentPort);
