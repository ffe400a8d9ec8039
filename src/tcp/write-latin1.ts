// Writing a latin1 string to a socket straight through its handle, when nothing is queued in the
// socket's Writable: the bytes go to the same handle net.Socket#write uses, so order with any write
// before or after is kept, but without the stream machinery's per-write objects (a WriteWrap, the
// after-write tick and its record: ~200 bytes and a process.nextTick per write).
//
// Plaintext (a TCP handle): libuv tries the write at once; when the kernel takes it all (the
// common case) nothing is allocated: the socket's one spare WriteWrap is only bound to the write
// when it has to wait, and a fresh one is made for the next write then. A write that had to wait
// is counted by the socket's Latin1Writer; when the last one completes the socket emits 'drain',
// as its Writable would have, and a failed one destroys the socket with the error.
//
// TLS (an established TLSSocket's TLSWrap handle): the record is encrypted and handed to the TCP
// handle at once, but the TLSWrap completes every write later (a SetImmediate) and takes only one
// write at a time (a second one before the first completed is a fatal CHECK in Node). So the
// writer owns the handle's one write while it is in flight: strings written meanwhile are joined
// and go as one write when it completes, and the socket's own Writable paths (socket.write of
// buffers, cork/uncork, end) are held back by the writer's guard on the socket's _writeGeneric and
// _final until then, and run in the order they were called.
//
// The writer (one per connection, made by its owner) keeps the spare WriteWrap and its counts: on
// the socket they were symbol-keyed properties, megamorphic loads across socket shapes. Anything
// else (a socket still connecting or handshaking, corked, ending, or with data in its Writable, or
// a Node without the binding) takes socket.write. Node's own stream_base_commons does the same
// with the same binding (process.binding('stream_wrap'), DEP0111: documented only).
import net from 'node:net';
import { getSystemErrorName } from 'node:util';
import { binding, TCP_HANDLE } from './bindings.js';

interface WriteWrapLike { handle: unknown; oncomplete: (status: number) => void; async: boolean; writer: Latin1Writer | null }
interface StreamWrap {
  WriteWrap: new () => WriteWrapLike;
  streamBaseState: Int32Array;
  kLastWriteWasAsync: number;
}
interface StreamHandle { writeLatin1String(req: WriteWrapLike, s: string): number }
interface WritableStateLike { length: number; corked: number; ending: boolean; destroyed: boolean }
type RawSocket = net.Socket & { _handle: StreamHandle | null; _writableState: WritableStateLike; _secureEstablished?: boolean };
type WriteGeneric = (this: net.Socket, writev: boolean, data: unknown, encoding: string, cb: (err?: Error | null) => void) => unknown;
type Final = (this: net.Socket, cb: (err?: Error | null) => void) => void;
/** A TLS socket whose writes a Latin1Writer guards (its Writable's calls into the handle wait while the writer's write is in flight). */
type GuardedSocket = net.Socket & { latin1Writer: Latin1Writer; _writeGeneric: unknown; _final: unknown };

const wrap: StreamWrap | null = loadStreamWrap();
const TLS_HANDLE: unknown = (binding('tls_wrap') as { TLSWrap?: unknown } | null)?.TLSWrap ?? null;
const socketProto = net.Socket.prototype as unknown as { _writeGeneric?: WriteGeneric; _final?: Final };
const WRITE_GENERIC: WriteGeneric | null = typeof socketProto._writeGeneric === 'function' ? socketProto._writeGeneric : null;
const FINAL: Final | null = typeof socketProto._final === 'function' ? socketProto._final : null;
/** joined TLS writes past this wait for 'drain' (net's default writableHighWaterMark) */
const TLS_JOIN_LIMIT = 16 * 1024;

function loadStreamWrap(): StreamWrap | null {
  const b = binding('stream_wrap') as Partial<StreamWrap> | null;
  if (b === null || typeof b.WriteWrap !== 'function' || !(b.streamBaseState instanceof Int32Array) || typeof b.kLastWriteWasAsync !== 'number') return null;
  return b as StreamWrap;
}

/** Destroys `socket` with a failed write's error, shaped as net's own are (`write EPIPE`, code, errno, syscall): the owners' error handlers log the code. */
function failWrite(socket: net.Socket, status: number): void {
  const code = getSystemErrorName(status);
  const err = new Error(`write ${code}`) as NodeJS.ErrnoException;
  err.code = code;
  err.errno = status;
  err.syscall = 'write';
  socket.destroy(err);
}

/** A plaintext write that waited has completed (`this` is its WriteWrap). */
function onWaitedWrite(this: WriteWrapLike, status: number): void {
  const writer = this.writer as Latin1Writer;
  this.writer = null;
  writer.waiting--;
  const socket = writer.socket;
  if (status < 0) return failWrite(socket, status);
  if (writer.waiting === 0 && socket.writableLength === 0 && !socket.destroyed) socket.emit('drain');
}

/** A TLS write completed (`this` is its WriteWrap): what waited for the handle goes now. */
function onTlsWrite(this: WriteWrapLike, status: number): void {
  const writer = this.writer as Latin1Writer;
  this.writer = null;
  writer.tlsDone(status, this);
}

/**
 * The socket's _writeGeneric while a Latin1Writer guards it: the Writable's write waits for the
 * writer's, and is counted until it completes (an empty write, renegotiate()'s for one, can hold
 * the handle while the Writable's length is 0).
 */
function guardedWriteGeneric(this: GuardedSocket, writev: boolean, data: unknown, encoding: string, cb: (err?: Error | null) => void): unknown {
  const writer = this.latin1Writer;
  if (writer.tlsBusy) {
    writer.hold(() => writeCounted(this, writer, writev, data, encoding, cb));
    return undefined;
  }
  return writeCounted(this, writer, writev, data, encoding, cb);
}

function writeCounted(socket: GuardedSocket, writer: Latin1Writer, writev: boolean, data: unknown, encoding: string, cb: (err?: Error | null) => void): unknown {
  writer.socketWrites++;
  return (WRITE_GENERIC as WriteGeneric).call(socket, writev, data, encoding, (err?: Error | null) => {
    writer.socketWrites--;
    cb(err);
  });
}

/** A guarded socket closed: a Writable call still waiting for the writer's write runs (and fails). */
function releaseHeld(this: GuardedSocket): void {
  this.latin1Writer.releaseHeld();
}

/** The socket's _final (its shutdown after end()) while a Latin1Writer guards it: after the writer's write. */
function guardedFinal(this: GuardedSocket, cb: (err?: Error | null) => void): void {
  const writer = this.latin1Writer;
  if (writer.tlsBusy) return writer.hold(() => (FINAL as Final).call(this, cb));
  (FINAL as Final).call(this, cb);
}

/** Latin1 writes to one socket (its owner makes one per connection). */
export class Latin1Writer {
  readonly socket: net.Socket;
  /** plaintext writes waiting in libuv's queue */
  waiting = 0;
  /** a WriteWrap for the next write (bound to the handle it was made for) */
  private spare: WriteWrapLike | null = null;
  /** TLS: this writer guards the socket's Writable and may write to its TLSWrap itself */
  private readonly tls: boolean;
  /** TLS: the WriteWrap of the last completed write (still Node's until its callback has returned) */
  private completed: WriteWrapLike | null = null;
  /** TLS: the handle's one write is this writer's, not yet completed */
  tlsBusy = false;
  /** TLS: strings written while it was, the next write */
  private joined = '';
  /** TLS: the socket's Writable call (a write or its shutdown) that waits for the handle */
  private held: (() => void) | null = null;
  /** TLS: a write returned false; 'drain' follows when the joined strings are written */
  private needDrain = false;
  /** TLS: the socket's own writes (its Writable's) handed to the handle and not yet completed */
  socketWrites = 0;

  constructor(socket: net.Socket) {
    this.socket = socket;
    const guarded = socket as GuardedSocket;
    this.tls = wrap !== null && TLS_HANDLE !== null && WRITE_GENERIC !== null && FINAL !== null
      && (socket as { encrypted?: boolean }).encrypted === true && guarded.latin1Writer === undefined;
    if (this.tls) {
      guarded.latin1Writer = this;
      guarded._writeGeneric = guardedWriteGeneric;
      guarded._final = guardedFinal;
      socket.once('close', releaseHeld);
    }
  }

  /**
   * Writes `s` (latin1). Like socket.write: true when the bytes are with the kernel (TLS: with
   * the TLS session, or joined below the high-water mark), false when they wait (the socket emits
   * 'drain' once they and everything before them are written).
   */
  write(s: string): boolean {
    const socket = this.socket as RawSocket;
    const handle = socket._handle;
    const ws = socket._writableState;
    if (this.tlsBusy) {
      // joined unless the Writable holds something (a held write, a corked one): then after it
      return ws.length === 0 && ws.corked === 0 && !ws.ending && !ws.destroyed && this.held === null ? this.join(s) : socket.write(s, 'latin1');
    }
    // (a destroyed socket has no handle: net closes it and drops it at once; `ws.destroyed`, a
    // getter every Writable shares, is a megamorphic load not worth making per write)
    if (wrap === null || handle === null || socket.connecting || ws.length !== 0 || ws.corked !== 0 || ws.ending) {
      return socket.write(s, 'latin1');
    }
    const type = (handle as { constructor: unknown }).constructor;
    if (type === TCP_HANDLE) return this.writePlain(handle, s);
    if (type === TLS_HANDLE && this.tls && socket._secureEstablished === true && this.socketWrites === 0 && s.length !== 0) return this.writeTls(handle, s);
    return socket.write(s, 'latin1');
  }

  private writePlain(handle: StreamHandle, s: string): boolean {
    const sw = wrap as StreamWrap;
    let req = this.spare;
    if (req === null || req.handle !== handle) {
      req = new sw.WriteWrap();
      req.handle = handle;
      req.oncomplete = onWaitedWrite;
      req.async = false;
      req.writer = null;
    }
    const err = handle.writeLatin1String(req, s);
    if (err !== 0) {
      this.spare = req;
      return this.socket.write(s, 'latin1'); // the stream path reports the error the way it always has
    }
    if (sw.streamBaseState[sw.kLastWriteWasAsync] === 0) {
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

  /** The TLSWrap encrypts `s` and hands the record to its TCP handle now; the write completes later (onTlsWrite). */
  private writeTls(handle: StreamHandle, s: string): boolean {
    const sw = wrap as StreamWrap;
    let req = this.spare;
    if (req === null) {
      req = new sw.WriteWrap();
      req.oncomplete = onTlsWrite;
      req.async = true;
    } else {
      this.spare = null;
    }
    req.handle = handle;
    // busy before the call: a session that fails while encrypting completes the write inside it
    req.writer = this;
    this.tlsBusy = true;
    const err = handle.writeLatin1String(req, s);
    if (err !== 0 || sw.streamBaseState[sw.kLastWriteWasAsync] === 0) {
      // not taken (or taken whole, without a completion): the wrap is free again
      req.writer = null;
      this.tlsBusy = false;
      this.spare = req;
      return err === 0 ? true : this.socket.write(s, 'latin1'); // the session is gone: the stream path reports it
    }
    return true;
  }

  /** While the handle's write is in flight, `s` waits with the other strings written meanwhile. */
  private join(s: string): boolean {
    this.joined = this.joined === '' ? s : this.joined + s;
    if (this.joined.length < TLS_JOIN_LIMIT) return true;
    this.needDrain = true;
    return false;
  }

  /** @internal a Writable call (guardedWriteGeneric, guardedFinal) waits for the handle (at most one: the Writable waits for it). */
  hold(op: () => void): void {
    this.held = op;
  }

  /**
   * @internal the handle's write with `req` completed: the joined strings go, else the Writable's
   * call that waited. Node detaches a WriteWrap from its write only after its completion callback
   * has returned (a write with it before that is a fatal CHECK), so `req` becomes the spare one
   * completion later, and the one that completed before it, free by now, is the spare now.
   */
  tlsDone(status: number, req: WriteWrapLike): void {
    this.spare = this.completed;
    this.completed = req;
    this.tlsBusy = false;
    const socket = this.socket;
    if (status < 0 || socket.destroyed) {
      // the Writable's waiting call still runs: on a closed socket it fails (its callbacks run)
      this.joined = '';
      if (status < 0 && !socket.destroyed) failWrite(socket, status);
      this.releaseHeld();
      return;
    }
    const joined = this.joined;
    if (joined !== '') {
      // straight to the handle: they were written before anything the Writable holds
      this.joined = '';
      this.writeTls((socket as RawSocket)._handle as StreamHandle, joined);
      if (this.tlsBusy) return; // the Writable's call and 'drain' wait for this write in turn
    }
    this.releaseHeld();
    if (this.needDrain && !this.tlsBusy) {
      this.needDrain = false;
      const ws = (socket as RawSocket)._writableState as WritableStateLike & { needDrain: boolean };
      // with the Writable's own bytes in flight, its 'drain' (when they are written) is the one
      if (ws.length !== 0) ws.needDrain = true;
      else if (!socket.destroyed) socket.emit('drain');
    }
  }

  /** @internal the Writable's waiting call, if any, goes now (also when the socket closed: it then fails). */
  releaseHeld(): void {
    const held = this.held;
    if (held === null) return;
    this.held = null;
    held();
  }
}
