// Sockets of proxied TCP connections (plaintext, and mesh mTLS upstreams) read through net's `onread` into this worker's one
// buffer, as the HTTP listener's do (no Readable stream, no buffer allocated per read): each read is
// copied out once, into the buffer the other side's write keeps.
import net from 'node:net';
import { readingInto } from '../downstream/adopt-handle.js';
import { connectTls, type UpstreamTls } from '../tls/outbound/client-tls.js';

const READ_BUFFER = Buffer.allocUnsafe(64 * 1024);

/** Where a socket's bytes go once its relay exists. */
export interface ReadTarget {
  fromDown(chunk: Buffer): void;
  fromUpstream(chunk: Buffer): void;
}

export type ReadingSocket = net.Socket & {
  readTarget: ReadTarget | null;
  /** the upstream side of its relay (bytes go to fromUpstream) */
  upstream: boolean;
  /** bytes read before a target was set (an upstream that speaks first, before the relay exists) */
  early: Buffer[] | null;
};

function onRead(this: ReadingSocket, n: number): void {
  const chunk = Buffer.allocUnsafe(n);
  READ_BUFFER.copy(chunk, 0, 0, n);
  const t = this.readTarget;
  if (t === null) (this.early ??= []).push(chunk);
  else if (this.upstream) t.fromUpstream(chunk);
  else t.fromDown(chunk);
}

function reading(socket: net.Socket, upstream: boolean): ReadingSocket {
  const s = socket as ReadingSocket;
  s.readTarget = null;
  s.upstream = upstream;
  s.early = null;
  return s;
}

/**
 * An accepted connection (accepted paused: `pauseOnConnect`) as a socket reading into the shared
 * buffer: net.Server cannot give one, so the accepted socket hands over its handle. Stays paused.
 */
export function adoptReading(accepted: net.Socket): ReadingSocket {
  return reading(readingInto(accepted, READ_BUFFER, onRead as (n: number) => boolean), false);
}

export function connectReading(host: string, port: number): ReadingSocket {
  return reading(net.connect({ host, port, allowHalfOpen: true, noDelay: true, onread: { buffer: READ_BUFFER, callback: onRead as (n: number) => boolean } }), true);
}

/** A mesh mTLS upstream connection (the h1 codec's: session resumption, SPIFFE check, handshake counts), decrypted bytes read into the shared buffer. */
export function connectReadingTls(host: string, port: number, t: UpstreamTls): ReadingSocket {
  const socket = connectTls(host, port, t, READ_BUFFER, onRead as unknown as (n: number, buf: Uint8Array) => boolean);
  socket.allowHalfOpen = true; // (connectTls leaves it off: an HTTP connection closes with its peer's FIN)
  return reading(socket, true);
}

/** Bytes read from now on wait (in `early`) for the next readInto. */
export function holdReads(socket: net.Socket): void {
  const s = socket as ReadingSocket;
  if (s.readTarget !== undefined) s.readTarget = null;
}

/** Sends the socket's bytes to `target` from now on, after those read before. */
export function readInto(socket: net.Socket, target: ReadTarget): void {
  const s = socket as ReadingSocket;
  if (s.readTarget === undefined) return;
  s.readTarget = target;
  const early = s.early;
  s.early = null;
  if (early !== null) for (const chunk of early) if (s.upstream) target.fromUpstream(chunk); else target.fromDown(chunk);
}

export function readsItself(socket: net.Socket): boolean {
  return (socket as ReadingSocket).readTarget !== undefined;
}
