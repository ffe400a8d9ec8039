// Plaintext sockets that read into a buffer of their own (net's `onread` option) get each read's
// byte count from their TCP handle straight, without net's generic onStreamRead in between. That
// function serves every kind of stream; per read it refreshes the socket's timeout timer (a walk
// over symbol-keyed properties), checks `destroyed` (a getter shared by every Writable) and looks
// up the buffer and callback by symbol, ~1% of a proxied request's CPU on a loopback hop. For the
// sockets this is used on, none of that applies: they have no socket timeout (meshlet sweeps idle
// connections itself), a destroyed socket's handle is closed at once (it reads nothing more), and
// their callbacks never return false (pausing goes through socket.pause()).
//
// Only a read of bytes is taken here; the end of the stream and read errors go to net's own
// function as before, so 'end', 'error' and 'close' come as they always have. A node whose handle
// does not look as expected keeps net's path (nothing is switched). Node's own net.js reads
// streamBaseState[kReadBytesOrError] the same way (process.binding('stream_wrap'), DEP0111:
// documented only), as tcp/write-latin1.ts does for writes.
import type net from 'node:net';
import { binding, TCP_HANDLE } from './bindings.js';

interface StreamWrapState {
  streamBaseState: Int32Array;
  kReadBytesOrError: number;
}
type OnRead = (this: DirectHandle, arrayBuffer: ArrayBuffer | undefined) => unknown;
/** A TCP handle switched to directRead: its socket and the socket's onread callback ride on it. */
interface DirectHandle {
  onread: OnRead;
  constructor: unknown;
  directSocket: net.Socket;
  directCallback: (this: net.Socket, n: number) => unknown;
  /** net's onStreamRead: the end of the stream and errors */
  netRead: OnRead;
}

const state: StreamWrapState | null = load();

function load(): StreamWrapState | null {
  const b = binding('stream_wrap') as Partial<StreamWrapState> | null;
  if (b === null || !(b.streamBaseState instanceof Int32Array) || typeof b.kReadBytesOrError !== 'number') return null;
  return b as StreamWrapState;
}

const bytes: Int32Array = state === null ? new Int32Array(1) : state.streamBaseState;
const READ_BYTES = state === null ? 0 : state.kReadBytesOrError;

/** The handle's read callback (`this` is the handle): bytes go to the socket's callback, anything else to net. */
function directRead(this: DirectHandle, arrayBuffer: ArrayBuffer | undefined): unknown {
  const n = bytes[READ_BYTES] as number;
  if (n > 0) {
    this.directCallback.call(this.directSocket, n);
    return undefined;
  }
  return this.netRead(arrayBuffer);
}

/**
 * Has `socket`'s reads (a plaintext socket made with `onread: { buffer, callback }`, its handle
 * already attached) call `callback` (`this` = the socket) without net's onStreamRead. Returns
 * false, changing nothing, when the socket is not such a socket on this node.
 */
export function readDirect(socket: net.Socket, callback: (this: net.Socket, n: number) => unknown): boolean {
  const handle = (socket as unknown as { _handle: DirectHandle | null })._handle;
  if (state === null || handle === null || TCP_HANDLE === null || handle.constructor !== TCP_HANDLE) return false;
  const netRead = handle.onread;
  if (netRead === directRead) return true; // (switched already: net's function is kept once)
  if (typeof netRead !== 'function' || (socket as { timeout?: number }).timeout !== undefined) return false;
  handle.directSocket = socket;
  handle.directCallback = callback;
  handle.netRead = netRead;
  handle.onread = directRead;
  return true;
}
