// The control socket: a Unix socket (mode 0600) speaking length-prefixed msgpack frames.
// Request `{id, op, ...}` → reply `{id, ok: true, ...}` or `{id, ok: false, errors: [...]}`.
// A bad frame (oversized, not msgpack, not a map) gets an error reply and the connection closes;
// a bad request gets an error reply; meshlet keeps serving either way.
import { chmod, unlink } from 'node:fs/promises';
import net from 'node:net';
import type { Logger } from '../log.js';
import { DEFAULT_FRAME_LIMIT, encodeFrame, FrameDecoder, FrameError } from './frame.js';

export type Reply = Record<string, unknown> & { ok: boolean };
export type OpHandler = (request: Record<string, unknown>) => Promise<Reply> | Reply;

export class RequestError extends Error {}

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

export async function startControlServer(path: string, ops: Record<string, OpHandler>, log: Logger, frameLimit?: number): Promise<net.Server> {
  await claimPath(path);
  const server = net.createServer((socket) => serveConnection(socket, ops, log, frameLimit));
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    // umask-independent: the file is created, then restricted before anyone is told it exists
    server.listen(path, () => resolve());
  });
  await chmod(path, 0o600);
  return server;
}

function serveConnection(socket: net.Socket, ops: Record<string, OpHandler>, log: Logger, frameLimit?: number): void {
  const decoder = new FrameDecoder(frameLimit);
  let chain = Promise.resolve();
  socket.on('error', () => undefined);
  socket.on('data', (data: Buffer) => {
    let messages: Record<string, unknown>[];
    try {
      messages = decoder.push(data);
    } catch (err) {
      const message = err instanceof FrameError ? err.message : 'unreadable frame';
      socket.end(encodeFrame({ id: null, ok: false, errors: [message] }));
      socket.destroy();
      return;
    }
    // requests on one connection are answered in order
    for (const msg of messages) chain = chain.then(() => answer(socket, msg, ops, log, frameLimit));
  });
}

async function answer(socket: net.Socket, msg: Record<string, unknown>, ops: Record<string, OpHandler>, log: Logger, frameLimit = DEFAULT_FRAME_LIMIT): Promise<void> {
  const id = typeof msg.id === 'number' || typeof msg.id === 'string' ? msg.id : null;
  let reply: Reply;
  try {
    if (id === null) throw new RequestError('request needs an id (number or string)');
    if (typeof msg.op !== 'string') throw new RequestError('request needs an op (string)');
    const handler = Object.hasOwn(ops, msg.op) ? ops[msg.op] : undefined;
    if (handler === undefined) throw new RequestError(`unknown op "${msg.op}"; ops: ${Object.keys(ops).join(', ')}`);
    reply = await handler(msg);
  } catch (err) {
    if (!(err instanceof RequestError)) log.error({ op: msg.op, err: (err as Error).message }, 'control op failed');
    reply = { ok: false, errors: [(err as Error).message] };
  }
  if (!socket.destroyed) socket.write(replyFrame(id, reply, frameLimit));
}

/** The reply's frame, or an error reply when it would be larger than a client reads (the frame limit). */
function replyFrame(id: number | string | null, reply: Reply, limit: number): Buffer {
  const frame = encodeFrame({ id, ...reply });
  if (frame.length - 4 <= limit) return frame;
  return encodeFrame({ id, ok: false, errors: [`the reply would be ${frame.length - 4} bytes, above the ${limit}-byte frame limit`] });
}
