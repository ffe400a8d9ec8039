// How a socket becomes an HTTP/1.1 client connection (H1Connection): an accepted plaintext socket
// (adopt: its handle moves to a socket reading through `onread` into the worker's one input
// buffer, adopt-handle.ts), a TLS socket whose handshake chose HTTP/1.1 (adoptSecure: decrypted
// bytes read into the same buffer, tls/read-into.ts, or 'data' chunks where node cannot), and the
// bytes either had already read. The socket carries its connection (`h1`): one read callback and
// one 'data' listener serve every connection, no closure per connection.
import type net from 'node:net';
import type { TLSSocket } from 'node:tls';
import type { PeerIdentity } from '../../tls/inbound/server-tls.js';
import { readingInto } from '../adopt-handle.js';
import { readDirect } from '../../tcp/direct-read.js';
import { readDecryptedInto } from '../tls/read-into.js';
import { H1Connection, IN_BUFFER, type ConnectionOwner } from './connection.js';

/**
 * Serves an accepted socket (accepted paused: `pauseOnConnect`). net.Server cannot read accepted
 * sockets into a caller's buffer, so the accepted socket gives its handle to a socket that does,
 * and is closed without it.
 */
export function adopt(accepted: net.Socket, owner: ConnectionOwner): H1Connection {
  const socket = readingInto(accepted, IN_BUFFER, onSocketRead as (n: number) => boolean) as net.Socket & { h1: H1Connection };
  const conn = new H1Connection(socket, owner, null);
  socket.h1 = conn;
  readDirect(socket, onSocketRead as (n: number) => void);
  socket.resume();
  return conn;
}

/**
 * Serves a TLS connection whose handshake chose HTTP/1.1: decrypted bytes land in IN_BUFFER as a
 * plaintext socket's do (downstream/tls/read-into.ts); where node cannot, they arrive as 'data' chunks.
 */
export function adoptSecure(socket: TLSSocket, owner: ConnectionOwner, peer: PeerIdentity): H1Connection {
  const conn = new H1Connection(socket, owner, peer);
  (socket as TLSSocket & { h1: H1Connection }).h1 = conn;
  const early = readDecryptedInto(socket, IN_BUFFER, onSocketRead as (n: number) => boolean);
  if (early === false) {
    socket.on('data', onSocketData);
    return conn;
  }
  socket.resume();
  // bytes decrypted before the switch go first (after resume's own tick: a pause they cause holds)
  if (early !== null) process.nextTick(readEarly, conn, early);
  return conn;
}

function readEarly(conn: H1Connection, early: Buffer): void {
  conn.onData(early);
}

/** The onread callback: `this` is the socket, which carries its connection. */
function onSocketRead(this: net.Socket & { h1: H1Connection }, n: number): void {
  this.h1.onRead(n);
}

/** A TLS socket's 'data' listener (one function for every connection). */
function onSocketData(this: TLSSocket & { h1: H1Connection }, chunk: Buffer): void {
  this.h1.onData(chunk);
}
