// Reading config files within meshlet's size limit: one budget for all files of a run or an
// apply, checked before a regular file is read and while anything else (a pipe, /dev/zero) is.
import { open } from 'node:fs/promises';

/**
 * The most config meshlet takes at once (all files of a run or an apply together): 4 MiB of YAML,
 * about 17,000 ServiceEntries, compiles in seconds to a few hundred MB. A config is parsed into
 * many times its size (a 50 MB one took 1.8 GB and did not fit a control-socket reply), so a
 * larger one is refused before it is read or parsed.
 */
export const MAX_CONFIG_BYTES = 4 * 1024 * 1024;

/** The error for a config of `bytes` in total (null: more than the limit, size unknown). */
export function configTooLarge(bytes: number | null): string {
  return `config is ${bytes === null ? 'larger than' : `${bytes} bytes, above`} meshlet's limit of ${MAX_CONFIG_BYTES} bytes (4 MiB) for all config files together`;
}

export class ConfigTooLargeError extends Error {
  constructor(readonly file: string, readonly reason: string) {
    super(`${file}: ${reason}`);
  }
}

/**
 * A UTF-8 file read whole, but never more than `limit` bytes (what is left of MAX_CONFIG_BYTES after
 * the files before it): ConfigTooLargeError beyond it, before reading a regular file, or after
 * `limit` bytes of anything else (`-c /dev/zero`).
 */
export async function readConfigFile(file: string, limit = MAX_CONFIG_BYTES): Promise<string> {
  const before = MAX_CONFIG_BYTES - limit;
  const fh = await open(file, 'r');
  try {
    const st = await fh.stat();
    if (st.isFile() && st.size > limit) throw new ConfigTooLargeError(file, configTooLarge(before + st.size));
    const buf = Buffer.allocUnsafe(64 * 1024);
    const chunks: Buffer[] = [];
    let total = 0;
    for (;;) {
      const { bytesRead } = await fh.read(buf, 0, buf.length, null);
      if (bytesRead === 0) break;
      total += bytesRead;
      if (total > limit) throw new ConfigTooLargeError(file, configTooLarge(null));
      chunks.push(Buffer.from(buf.subarray(0, bytesRead)));
    }
    return Buffer.concat(chunks, total).toString('utf8');
  } finally {
    await fh.close();
  }
}

/** Every file read (readConfigFile), in order, within MAX_CONFIG_BYTES together. Throws on the first that cannot be read. */
export async function readConfigFiles(paths: readonly string[]): Promise<{ file: string; text: string }[]> {
  const out: { file: string; text: string }[] = [];
  let left = MAX_CONFIG_BYTES;
  for (const file of paths) {
    const text = await readConfigFile(file, left);
    left -= Buffer.byteLength(text);
    out.push({ file, text });
  }
  return out;
}
