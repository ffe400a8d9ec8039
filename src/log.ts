// The process logger: pino JSON lines on stderr (stdout stays free for the demo's and CLI's output).
import pino from 'pino';

export type Logger = pino.Logger;

export function createLogger(level: string, name = 'meshlet'): Logger {
  return pino({ name, level, base: { pid: process.pid } }, pino.destination({ fd: 2, sync: true }));
}
