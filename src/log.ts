// The process logger: pino JSON lines on stderr (stdout stays free for the demo's and CLI's output).
// pino is loaded on first use, so a data-plane worker that never logs does not hold it.
import { createRequire } from 'node:module';
import type pino from 'pino';

export type Logger = pino.Logger;

const require = createRequire(import.meta.url);

export function createLogger(level: string, name = 'meshlet'): Logger {
  const lib = require('pino') as typeof pino;
  return lib({ name, level, base: { pid: process.pid } }, lib.destination({ fd: 2, sync: true }));
}

let threadLogger: Logger | null = null;
let threadLevel = 'info';

export function configureWorkerLog(level: string): void {
  threadLevel = level;
}

/** Whether this thread logs debug lines, answered without loading pino (a worker that never logs does not hold it). */
export function workerDebugEnabled(): boolean {
  return threadLevel === 'debug' || threadLevel === 'trace';
}

/** This thread's logger for rare events (created on first use; never on the request path's happy side). */
export function workerLog(): Logger {
  threadLogger ??= createLogger(threadLevel, 'meshlet-worker');
  return threadLogger;
}
