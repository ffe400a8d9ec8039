// TLS front thread entry; the logic lives in src/tls/inbound/front.ts.
import { parentPort, workerData } from 'node:worker_threads';
import { runFront } from '../src/tls/inbound/front.js';
import type { FrontOptions } from '../src/tls/inbound/front-protocol.js';

if (parentPort === null) throw new Error('workers/tls-front.js must run as a worker thread');
await runFront(workerData as FrontOptions, parentPort);
