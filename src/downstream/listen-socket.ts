// Listening sockets with SO_REUSEPORT, from meshlet's small native addon (src/native/): Node 20's
// net module cannot set it, and every data-plane worker needs its own socket on each listener port.
import { createRequire } from 'node:module';
import type net from 'node:net';
import type { TcpKeepaliveSpec } from '../config/snapshot.js';

const BACKLOG = 511;

interface ReusePortAddon {
  listen(host: string, port: number, backlog: number): number;
  keepalive(fd: number, idleS: number, intervalS: number, probes: number): void;
  keepaliveOf(fd: number): [number, number, number, number];
}

let addon: ReusePortAddon | null = null;

function load(): ReusePortAddon {
  const require = createRequire(import.meta.url);
  // dist/src/downstream/ → the repository root → src/native/build (built by `npm ci` / `npm run build:native`)
  const path = new URL('../../../src/native/build/Release/reuseport.node', import.meta.url);
  try {
    return require(path.pathname) as ReusePortAddon;
  } catch (err) {
    throw new Error(`meshlet's native listener addon did not load (run \`npm run build:native\`): ${(err as Error).message}`);
  }
}

/** A listening TCP socket on host:port that other workers share (SO_REUSEPORT); returns its fd. */
export function listenReusePort(host: string, port: number): number {
  addon ??= load();
  return addon.listen(host, port, BACKLOG);
}

/** The OS socket of a connected net.Socket or TLSSocket, or -1. */
export function socketFd(socket: net.Socket): number {
  const handle = (socket as unknown as { _handle: { fd?: number } | null })._handle;
  const fd = handle?.fd;
  return typeof fd === 'number' ? fd : -1;
}

/**
 * TCP keepalive on a connected socket (DestinationRule connectionPool.tcp.tcpKeepalive): on, with
 * each of time, interval and probes that is set (> 0); the others keep the OS default. Seconds are
 * rounded up. Node sets only the idle time: where the socket's fd cannot be read, only that is set.
 */
export function setKeepalive(socket: net.Socket, ka: TcpKeepaliveSpec): void {
  const idleS = Math.ceil(ka.timeMs / 1000);
  const fd = socketFd(socket);
  if (fd < 0) {
    socket.setKeepAlive(true, idleS * 1000);
    return;
  }
  try {
    addon ??= load();
    addon.keepalive(fd, idleS, Math.ceil(ka.intervalMs / 1000), ka.probes);
  } catch {
    socket.setKeepAlive(true, idleS * 1000);
  }
}

/** [on, idle s, interval s, probes] of a socket (tests). */
export function keepaliveOf(socket: net.Socket): [number, number, number, number] {
  addon ??= load();
  return addon.keepaliveOf(socketFd(socket));
}
