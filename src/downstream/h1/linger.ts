// Lingering, the polite close of an HTTP/1.1 client connection after its last reply (an error
// reply, Connection: close, a drain): FIN after the reply, then the client's input is still read
// and dropped a while, so bytes it sent after the request do not make the kernel answer with a
// reset that loses the reply. Bounded per worker: beyond MAX_LINGERING a closing connection is
// closed as soon as its reply is flushed (a client flooding refused requests cannot hold
// rate × LINGER_MS sockets). The connection's side is closeGracefully() in lifecycle.ts.
import type net from 'node:net';

/** a connection closed after a reply keeps draining the client's input this long, so the reply is not lost to a reset */
const LINGER_MS = 2000;
/** Lingering connections this worker keeps at most. */
export const MAX_LINGERING = 1024;
let lingering = 0;

/** this worker's lingering connections now (for /workers) */
export function lingeringConnections(): number {
  return lingering;
}

/**
 * `socket` (reading, its reply written) ends: it lingers until it closes or LINGER_MS have passed;
 * returns its timer, for lingerEnded() when it closes. null: MAX_LINGERING are lingering already,
 * so it is destroyed once its reply is flushed, without lingering.
 */
export function linger(socket: net.Socket): NodeJS.Timeout | null {
  if (lingering >= MAX_LINGERING) {
    socket.destroySoon(); // FIN after the reply, then closed: no linger
    return null;
  }
  socket.end();
  lingering++;
  return setTimeout(destroySocket, LINGER_MS, socket).unref();
}

/** A lingering socket closed (by the client, or its timer): the socket is freed now, not when the timer fires. */
export function lingerEnded(timer: NodeJS.Timeout): void {
  clearTimeout(timer);
  lingering--;
}

function destroySocket(socket: net.Socket): void {
  socket.destroy();
}
