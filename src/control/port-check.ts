// uWS listens with SO_REUSEPORT, so a second process on the same port would silently share it.
// Before starting workers, bind each listener address exclusively once: EADDRINUSE means another
// process serves it.
import net from 'node:net';
import type { ListenerSpec } from '../config/snapshot.js';

export async function assertPortsFree(listeners: ListenerSpec[]): Promise<void> {
  for (const l of listeners) {
    await new Promise<void>((resolve, reject) => {
      const server = net.createServer();
      server.once('error', (err: NodeJS.ErrnoException) => {
        const why = err.code === 'EADDRINUSE' ? 'is already in use by another process' : `cannot be bound (${err.code ?? err.message})`;
        reject(new Error(`listener ${l.name}: ${l.bind}:${l.port} ${why}`));
      });
      server.listen({ host: l.bind, port: l.port, exclusive: true }, () => server.close(() => resolve()));
    });
  }
}

/** A loopback port free right now (bind 0, read, close): demo and local etcd ports. */
export function pickLoopbackPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen({ host: '127.0.0.1', port: 0, exclusive: true }, () => {
      const port = (server.address() as net.AddressInfo).port;
      server.close(() => resolve(port));
    });
  });
}
