// File writes for key material: atomic (temp file + rename) with the mode set before any byte lands,
// so a reader never sees a half-written or briefly world-readable key.
import { chmodSync, closeSync, fsyncSync, mkdirSync, openSync, renameSync, statSync, unlinkSync, writeSync } from 'node:fs';
import path from 'node:path';

export function writeFileAtomic(file: string, data: string, mode: number): void {
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.${Date.now()}.tmp`);
  const fd = openSync(tmp, 'wx', mode);
  try {
    writeSync(fd, data);
    fsyncSync(fd);
  } catch (err) {
    closeSync(fd);
    unlinkSync(tmp);
    throw err;
  }
  closeSync(fd);
  chmodSync(tmp, mode); // the umask may have narrowed it further; never widened
  renameSync(tmp, file);
}

/** Creates `dir` (and parents) and makes `dir` itself private. */
export function ensurePrivateDir(dir: string): void {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  chmodSync(dir, 0o700);
}

export function modeOf(file: string): number {
  return statSync(file).mode & 0o777;
}
