// Headless Chromium screenshots of a file (e.g. an SVG) for render checks; null when chromium is
// not installed, so tests can skip with a message.
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { decodePng, type Image } from './png.js';

export const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';

export function chromiumInstalled(): boolean {
  const r = spawnSync(CHROMIUM, ['--version'], { encoding: 'utf8', timeout: 15_000 });
  return r.error === undefined && r.status === 0;
}

/** Renders `file` at width×height and decodes the PNG; rejects after `timeoutMs`. */
export async function screenshot(file: string, width = 900, height = 600, timeoutMs = 30_000): Promise<Image> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'meshlet-chromium-'));
  const png = path.join(dir, 'shot.png');
  try {
    const args = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', `--user-data-dir=${path.join(dir, 'profile')}`, `--screenshot=${png}`,
      `--window-size=${width},${height}`, pathToFileURL(file).href];
    const proc = spawn(CHROMIUM, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    proc.stderr.on('data', (d: Buffer) => { err += d.toString(); });
    const timer = setTimeout(() => proc.kill('SIGKILL'), timeoutMs);
    const code = await new Promise<number | null>((resolve) => proc.once('exit', (c) => resolve(c)));
    clearTimeout(timer);
    if (code !== 0) throw new Error(`chromium exited ${code}: ${err.slice(-2000)}`);
    return decodePng(readFileSync(png));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
