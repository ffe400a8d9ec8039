// Writing a latin1 string to a plaintext TCP socket straight through its handle, when nothing is
// queued in the socket's Writable: the bytes go to the same libuv write queue net.Socket#write
// uses, so order with any write before or after is kept, but without the stream machinery's
// per-write objects (a WriteWrap, the after-write tick and its record: ~200 bytes and a
// process.nextTick per write). libuv tries the write at once; when the kernel takes it all (the
// common case) nothing is allocated: the socket's one spare WriteWrap is only bound to the write
// when it has to wait, and a fresh one is made for the next write then.
//
// A write that had to wait is counted by the socket's Latin1Writer; when the last one completes
// the socket emits 'drain', as its Writable would have, and a failed one destroys the socket with
// the error. The writer (one per connection, made by its owner) keeps the spare WriteWrap and that
// count: on the socket they were symbol-keyed properties, megamorphic loads across socket shapes.
// Anything else (TLS sockets, a socket still connecting, corked, ending, or with data in its
// Writable, or a Node without the binding) takes socket.write. Node's own stream_base_commons
// does the same with the same binding (process.binding('stream_wrap'), DEP0111: documented only).
import type net from 'node:net';
import { getSystemErrorName } from 'node:util';

interface WriteWrapLike { handle: unknown; oncomplete: (status: number) => void; async: boolean; writer: Latin1Writer | null }
interface StreamWrap {
  WriteWrap: new () => WriteWrapLike;
  streamBaseState: Int32Array;
  kLastWriteWasAsync: number;
}
interface TcpHandle { writeLatin1String(req: WriteWrapLike, s: string): number }
interface WritableStateLike { length: number; corked: number; ending: boolean; destroyed: boolean }
type RawSocket = net.Socket & { _handle: TcpHandle | null; _writableState: WritableStateLike };

const wrap: StreamWrap | null = loadStreamWrap();
const TCP_HANDLE: unknown = (binding('tcp_wrap') as { TCP?: unknown } | null)?.TCP ?? null;

/** One of Node's internal bindings, or null where process.binding no longer lends it. */
function binding(name: string): object | null {
  try {
    return (process as unknown as { binding(name: string): object }).binding(name);
  } catch {
    return null;
  }
}

function loadStreamWrap(): StreamWrap | null {
  const b = binding('stream_wrap') as Partial<StreamWrap> | null;
  if (b === null || typeof b.WriteWrap !== 'function' || !(b.streamBaseState instanceof Int32Array) || typeof b.kLastWriteWasAsync !== 'number') return null;
  return b as StreamWrap;
}

/** A write that waited has completed (`this` is its WriteWrap). */
function onWaitedWrite(this: WriteWrapLike, status: number): void {
  const writer = this.writer as Latin1Writer;
  this.writer = null;
  writer.waiting--;
  const socket = writer.socket;
  if (status < 0) {
    // shaped as net's own write errors are (`write EPIPE`, code, errno, syscall): the owners' error
    // handlers log the code
    const code = getSystemErrorName(status);
    const err = new Error(`write ${code}`) as NodeJS.ErrnoException;
    err.code = code;
    err.errno = status;
    err.syscall = 'write';
    socket.destroy(err);
    return;
  }
  if (writer.waiting === 0 && socket.writableLength === 0 && !socket.destroyed) socket.emit('drain');
}

/** Latin1 writes to one socket (its owner makes one per connection). */
export class Latin1Writer {
  readonly socket: net.Socket;
  /** writes waiting in libuv's queue */
  waiting = 0;
  /** a WriteWrap for the next write (bound to the handle it was made for) */
  private spare: WriteWrapLike | null = null;

  constructor(socket: net.Socket) {
    this.socket = socket;
  }

  /**
   * Writes `s` (latin1). Like socket.write: true when the bytes are with the kernel, false when
   * they wait (the socket emits 'drain' once they and everything before them are written).
   */
  write(s: string): boolean {
    const socket = this.socket as RawSocket;
    const handle = socket._handle;
    const ws = socket._writableState;
    if (wrap === null || handle === null || (handle as { constructor: unknown }).constructor !== TCP_HANDLE || socket.connecting
      || ws.length !== 0 || ws.corked !== 0 || ws.ending || ws.destroyed) {
      return socket.write(s, 'latin1');
    }
    let req = this.spare;
    if (req === null || req.handle !== handle) {
      req = new wrap.WriteWrap();
      req.handle = handle;
      req.oncomplete = onWaitedWrite;
      req.async = false;
      req.writer = null;
    }
    const err = handle.writeLatin1String(req, s);
    if (err !== 0) {
      this.spare = req;
      return socket.write(s, 'latin1'); // the stream path reports the error the way it always has
    }
    if (wrap.streamBaseState[wrap.kLastWriteWasAsync] === 0) {
      this.spare = req;
      return this.waiting === 0;
    }
    // it waits in libuv's queue, bound to `req`: the next write needs another WriteWrap
    req.async = true;
    req.writer = this;
    this.spare = null;
    this.waiting++;
    return false;
  }
}
