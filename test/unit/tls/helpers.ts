// Test helpers for the mesh CA: a logger that records its lines (and can wait for one), and a
// throw-away CA directory.
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createRequire } from 'node:module';
import type pino from 'pino';
import type { Logger } from '../../../src/log.js';
import { initCa, type LoadedCa } from '../../../src/tls/ca/store.js';

const require = createRequire(import.meta.url);

export interface CapturedLog {
  log: Logger;
  lines: Record<string, unknown>[];
  text(): string;
  /** resolves with the first line (already logged or future) whose msg includes `msg` */
  waitFor(msg: string): Promise<Record<string, unknown>>;
}

export function captureLog(): CapturedLog {
  const lines: Record<string, unknown>[] = [];
  const raw: string[] = [];
  const waiters: { msg: string; resolve(l: Record<string, unknown>): void }[] = [];
  const lib = require('pino') as typeof pino;
  const log = lib({ level: 'debug' }, {
    write(s: string) {
      raw.push(s);
      const line = JSON.parse(s) as Record<string, unknown>;
      lines.push(line);
      for (const w of waiters.splice(0)) {
        if (String(line.msg).includes(w.msg)) w.resolve(line);
        else waiters.push(w);
      }
    },
  });
  return {
    log, lines,
    text: () => raw.join(''),
    waitFor(msg) {
      const seen = lines.find((l) => String(l.msg).includes(msg));
      if (seen !== undefined) return Promise.resolve(seen);
      return new Promise((resolve) => waiters.push({ msg, resolve }));
    },
  };
}

export function tmpDir(prefix: string): string {
  return mkdtempSync(path.join(os.tmpdir(), `meshlet-${prefix}-`));
}

export function newCa(trustDomain = 'cluster.local'): Promise<LoadedCa> {
  return initCa(path.join(tmpDir('ca'), 'ca'), trustDomain);
}
