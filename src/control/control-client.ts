// Client side of the control socket, for the CLI: one request, one reply.
import net from 'node:net';
import { encodeFrame, FrameDecoder } from './frame.js';

export class UnreachableError extends Error {}

export function controlRequest(path: string, request: Record<string, unknown>, timeoutMs = 30_000): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(path);
    const decoder = new FrameDecoder();
    let connected = false;
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new UnreachableError(`no reply from ${path} within ${timeoutMs} ms`));
    }, timeoutMs);
    socket.once('connect', () => {
      connected = true;
      socket.write(encodeFrame({ id: 1, ...request }));
    });
    socket.on('data', (d: Buffer) => {
      let reply: Record<string, unknown> | undefined;
      try {
        [reply] = decoder.push(d);
      } catch (err) {
        // an oversized or undecodable reply: an error for the caller, never an uncaught exception
        clearTimeout(timer);
        socket.destroy();
        reject(new Error(`bad reply from meshlet at ${path}: ${(err as Error).message}`));
        return;
      }
      if (reply !== undefined) {
        clearTimeout(timer);
        socket.end();
        resolve(reply);
      }
    });
    socket.once('error', (err) => {
      clearTimeout(timer);
      reject(connected ? err : new UnreachableError(`cannot reach meshlet at ${path}: ${err.message}`));
    });
    socket.once('close', () => {
      clearTimeout(timer);
      reject(new UnreachableError(`meshlet at ${path} closed the connection without a reply`));
    });
  });
}
