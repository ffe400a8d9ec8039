// The control socket: a Unix socket (mode 0600) speaking length-prefixed msgpack frames.
// Request `{id, op, ...}` → reply `{id, ok: true, ...}` or `{id, ok: false, errors: [...]}`.
// A bad frame (oversized, not msgpack, not a map) gets an error reply and the connection closes;
// a bad request gets an error reply; meshlet keeps serving either way. Connections and the bytes
// they hold are bounded (control-connection.ts); beyond, an error reply says so.
import { chmod, unlink } from 'node:fs/promises';
import net from 'node:net';
import type { Logger } from '../log.js';
import { ByteBudget, ControlConnection, refuseConnection, type ControlLimits, type OpHandler } from './control-connection.js';
import { MAX_CONFIG_BYTES } from '../config/index.js';
import { DEFAULT_FRAME_LIMIT } from './frame.js';

export { RequestError, type OpHandler, type Reply } from './control-connection.js';

const DEFAULT_CONTROL_LIMITS: ControlLimits = {
  // an apply of the largest config, with room to spare (8 MiB)
  maxRequestBytes: 2 * MAX_CONFIG_BYTES,
  maxReplyBytes: DEFAULT_FRAME_LIMIT,
  maxConnections: 16,
  // two requests of the largest size (16 MiB)
  maxBufferedBytes: 4 * MAX_CONFIG_BYTES,
  idleTimeoutMs: 60_000,
  lingerMs: 2_000,
};

/** Refuses a socket path a live process listens on; removes a stale one. */
async function claimPath(path: string): Promise<void> {
  const live = await new Promise<boolean>((resolve) => {
    const probe = net.connect(path);
    probe.once('connect', () => { probe.destroy(); resolve(true); });
    probe.once('error', () => resolve(false));
  });
  if (live) throw new Error(`control socket ${path} is in use by a running process`);
  await unlink(path).catch((err: NodeJS.ErrnoException) => {
    if (err.code !== 'ENOENT') throw new Error(`control socket ${path}: cannot remove stale file: ${err.message}`);
  });
}

export async function startControlServer(path: string, ops: Record<string, OpHandler>, log: Logger, limits: Partial<ControlLimits> = {}): Promise<net.Server> {
  const l: ControlLimits = { ...DEFAULT_CONTROL_LIMITS, ...limits };
  const budget = new ByteBudget(l.maxBufferedBytes);
  let open = 0;
  await claimPath(path);
  const server = net.createServer((socket) => {
    if (open >= l.maxConnections) {
      socket.on('error', () => undefined);
      refuseConnection(socket, `control socket busy: ${open} connections are open (the limit); retry later`, l.lingerMs);
      return;
    }
    open++;
    new ControlConnection(socket, ops, log, l, budget, () => { open--; });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    // umask-independent: the file is created, then restricted before anyone is told it exists
    server.listen(path, () => resolve());
  });
  await chmod(path, 0o600);
  return server;
}
