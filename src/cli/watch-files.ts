// `meshlet run --watch`: a change to any config file re-applies the whole set through the control
// socket, as `meshlet apply` would.
import { watch } from 'node:fs';
import path from 'node:path';
import { readConfigFiles } from '../config/index.js';
import type { Logger } from '../log.js';

/** A change to any config file re-applies the whole set through the control socket path. */
export function watchFiles(files: string[], controlPath: string, log: Logger): () => void {
  let timer: NodeJS.Timeout | null = null;
  const reload = async (): Promise<void> => {
    const { controlRequest } = await import('../control/control-client.js');
    try {
      const sources = await readConfigFiles(files);
      const reply = await controlRequest(controlPath, { op: 'apply', files: sources });
      if (reply.ok === true) log.info({ generation: reply.generation, diff: reply.diff }, 'config reloaded');
      else log.error({ errors: reply.errors }, 'config reload rejected; the running config keeps serving');
    } catch (err) {
      log.error({ err: (err as Error).message }, 'config reload failed');
    }
  };
  // Directories are watched, not files: editors and `kubectl`-style tools replace a file by
  // renaming a new one over it, which ends a watch on the old inode.
  const names = new Map<string, Set<string>>();
  for (const f of files) {
    const dir = path.dirname(path.resolve(f));
    if (!names.has(dir)) names.set(dir, new Set());
    names.get(dir)?.add(path.basename(f));
  }
  const watchers = [...names].map(([dir, base]) => watch(dir, (_event, name) => {
    if (name === null || !base.has(name)) return;
    if (timer !== null) clearTimeout(timer);
    timer = setTimeout(() => void reload(), 100);
  }));
  return () => {
    if (timer !== null) clearTimeout(timer);
    for (const w of watchers) w.close();
  };
}
