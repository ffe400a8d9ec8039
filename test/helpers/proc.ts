// Process figures read from /proc (Linux): resident memory of a child process.
import { readFileSync } from 'node:fs';

export function rssBytes(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (m === null) throw new Error(`no VmRSS for pid ${pid}`);
  return Number(m[1]) * 1024;
}

/** Samples RSS every `everyMs` until stopped; returns the peak. */
export function watchRss(pid: number, everyMs = 25): { stop(): number } {
  let peak = rssBytes(pid);
  const timer = setInterval(() => {
    try { peak = Math.max(peak, rssBytes(pid)); } catch { /* process gone */ }
  }, everyMs);
  return { stop() { clearInterval(timer); return peak; } };
}
