// Raw TCP servers and clients for the TCP proxying tests: an echo, a named responder, a hashing
// sink, a deterministic byte source, and waiting on meshlet's metrics.
import { createHash } from 'node:crypto';
import { closeSync } from 'node:fs';
import { createRequire } from 'node:module';
import net from 'node:net';
import path from 'node:path';
import { request } from 'undici';
import { REPO_ROOT } from './meshlet.js';
import { freePort } from './ports.js';

export interface TcpServer {
  server: net.Server;
  port: number;
  /** connections accepted so far */
  accepted: number;
  close(): Promise<void>;
}

export function tcpServer(onConnection: (socket: net.Socket) => void, port = 0): Promise<TcpServer> {
  const sockets = new Set<net.Socket>();
  const out: TcpServer = {
    server: net.createServer({ allowHalfOpen: true }, (s) => {
      out.accepted++;
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => undefined);
      onConnection(s);
    }),
    port: 0,
    accepted: 0,
    close: () => new Promise<void>((resolve) => {
      for (const s of sockets) s.destroy();
      out.server.close(() => resolve());
    }),
  };
  return new Promise((resolve, reject) => {
    out.server.once('error', reject);
    out.server.listen(port, '127.0.0.1', () => {
      out.port = (out.server.address() as net.AddressInfo).port;
      resolve(out);
    });
  });
}

export interface BlackHole {
  port: number;
  close(): void;
}

/**
 * A port where connecting hangs: a socket listening with backlog 0 that never accepts, its one
 * queue place taken, so the kernel drops further SYNs (the client retries until it gives up). Made
 * with meshlet's native addon, as net.Server always accepts.
 */
export async function blackHole(): Promise<BlackHole> {
  const addon = createRequire(import.meta.url)(path.join(REPO_ROOT, 'src/native/build/Release/reuseport.node')) as { listen(host: string, port: number, backlog: number): number };
  const port = await freePort();
  const fd = addon.listen('127.0.0.1', port, 0);
  const filler = net.connect({ port, host: '127.0.0.1' });
  filler.on('error', () => undefined);
  await new Promise<void>((resolve) => filler.once('connect', () => resolve()));
  return { port, close: () => { filler.destroy(); closeSync(fd); } };
}

/** Echoes every byte; a FIN from the client is answered with a FIN once everything is echoed. */
export function echoServer(): Promise<TcpServer> {
  return tcpServer((s) => s.pipe(s));
}

/** Writes `name` then closes (each connection says who answered). */
export function nameServer(name: string): Promise<TcpServer> {
  return tcpServer((s) => s.end(name));
}

/** Reads until the client's FIN, then answers `<sha256 hex> <byte count>` and ends: the reply travels after the client half-closed. */
export function hashServer(): Promise<TcpServer> {
  return tcpServer((s) => {
    const hash = createHash('sha256');
    let n = 0;
    s.on('data', (d: Buffer) => { hash.update(d); n += d.length; });
    s.on('end', () => s.end(`${hash.digest('hex')} ${n}`));
  });
}

/** Deterministic bytes: block i of 64 KiB is filled from a counter, so any reordering or loss changes the hash. */
export function patternBlock(i: number): Buffer {
  const b = Buffer.allocUnsafe(64 * 1024);
  for (let j = 0; j < b.length; j += 4) b.writeUInt32LE((i * 16384 + j / 4) >>> 0, j);
  return b;
}

/** Writes `blocks` pattern blocks to `s` with backpressure; resolves when all were handed to the socket. */
export async function writePattern(s: net.Socket, blocks: number, hash?: ReturnType<typeof createHash>): Promise<void> {
  for (let i = 0; i < blocks; i++) {
    const b = patternBlock(i);
    hash?.update(b);
    if (!s.write(b)) await new Promise<void>((resolve, reject) => {
      const onClose = (): void => reject(new Error('socket closed while writing'));
      s.once('close', onClose);
      s.once('drain', () => { s.off('close', onClose); resolve(); });
    });
  }
}

export interface Exchange {
  /** what came back before the server's FIN (or the close) */
  data: Buffer;
  /** the server ended its side (FIN) rather than resetting */
  ended: boolean;
  error: string | null;
}

/** Connects, sends `payload` (then FIN unless `keepOpen`), collects the reply until the connection closes. */
export function tcpExchange(port: number, payload: string | Buffer, keepOpen = false, timeoutMs = 10_000): Promise<Exchange> {
  return new Promise((resolve) => {
    const s = net.connect({ port, host: '127.0.0.1', allowHalfOpen: true });
    const chunks: Buffer[] = [];
    let ended = false;
    let error: string | null = null;
    const timer = setTimeout(() => { error = 'timeout'; s.destroy(); }, timeoutMs);
    s.on('data', (d: Buffer) => chunks.push(d));
    s.on('end', () => { ended = true; if (!keepOpen) s.end(); else s.end(); });
    s.on('error', (e) => { error = e.message; });
    s.on('close', () => { clearTimeout(timer); resolve({ data: Buffer.concat(chunks), ended, error }); });
    s.on('connect', () => { s.write(payload); if (!keepOpen) s.end(); });
  });
}

/** Sum of a metric's samples whose label text contains every `filters` entry. */
export function metricValue(text: string, name: string, ...filters: string[]): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`)) continue;
    if (filters.every((f) => line.includes(f))) sum += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return sum;
}

export async function scrape(adminPort: number): Promise<string> {
  const res = await request(`http://127.0.0.1:${adminPort}/stats/prometheus`);
  return res.body.text();
}

/**
 * Polls meshlet's metrics until `done(text)` holds (records reach the stats rings when a connection
 * has fully closed inside meshlet, a moment after the client sees it end); fails after `timeoutMs`.
 */
export async function waitForMetrics(adminPort: number, done: (text: string) => boolean, timeoutMs = 5000): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const text = await scrape(adminPort);
    if (done(text)) return text;
    if (Date.now() > deadline) throw new Error(`metrics did not reach the expected state within ${timeoutMs} ms:\n${text.split('\n').filter((l) => l.startsWith('istio_tcp') || l.startsWith('istio_requests')).join('\n')}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
