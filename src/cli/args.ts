// Small helpers for CLI values: HOST:PORT and durations.
import { MAX_TIMER_MS } from '../config/validate/values.js';

export function parseHostPort(value: string, flag: string): { host: string; port: number } {
  const m = /^\[?([^\]]*?)\]?:(\d{1,5})$/.exec(value);
  const port = m === null ? NaN : Number(m[2]);
  if (m === null || !(port >= 0 && port <= 65535)) throw new Error(`${flag}: expected HOST:PORT, got "${value}"`);
  return { host: m[1] === '' ? '127.0.0.1' : (m[1] as string), port };
}

/** "5s", "300ms", "2m", or a bare number of seconds; at most MAX_TIMER_MS (a longer timer would fire at once). */
export function parseDurationMs(value: string, flag: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m)?$/.exec(value.trim());
  if (m === null) throw new Error(`${flag}: expected a duration like 5s or 300ms, got "${value}"`);
  const n = Number(m[1]);
  const ms = m[2] === 'ms' ? n : m[2] === 'm' ? n * 60_000 : n * 1000;
  if (!(ms <= MAX_TIMER_MS)) throw new Error(`${flag}: at most ${MAX_TIMER_MS}ms (about 24.8 days, the longest timer Node.js can set), got "${value}"`);
  return ms;
}

export function parsePositiveInt(value: string, flag: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new Error(`${flag}: expected a positive integer, got "${value}"`);
  return n;
}

export function parseFraction(value: string, flag: string): number {
  const n = Number(value);
  if (value.trim() === '' || !(n >= 0 && n <= 1)) throw new Error(`${flag}: expected a number from 0 to 1, got "${value}"`);
  return n;
}

export function parsePercent(value: string, flag: string): number {
  const n = Number(value);
  if (value.trim() === '' || !(n >= 0 && n <= 100)) throw new Error(`${flag}: expected a percentage from 0 to 100, got "${value}"`);
  return n;
}
