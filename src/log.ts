// The process logger: pino JSON lines on stderr (stdout stays free for the demo's and CLI's output).
import pino from 'pino';

export type Logger = pino.Logger;

export function createLogger(level: string, name = 'meshlet'): Logger {
  return pino({ name, level, base: { pid: process.pid } }, pino.destination({ fd: 2, sync: true }));
}

let threadLogger: Logger | null = null;
let threadLevel = 'info';

export function configureWorkerLog(level: string): void {
  threadLevel = level;
}

/** This thread's logger for rare events (created on first use; never on the request path's happy side). */
export function workerLog(): Logger {
  threadLogger ??= createLogger(threadLevel, 'meshlet-worker');
  return threadLogger;
}
