// net.Server cannot read accepted sockets into a caller's buffer (`onread`), so an accepted socket
// (accepted paused: `pauseOnConnect`) hands its handle to a new socket that does, and is closed
// without it. Used by the HTTP/1.1 listener, the PERMISSIVE sniffer and the TCP listener.
import net from 'node:net';

/** The accepted connection as a paused socket whose reads land in `buffer` (`callback(n)` per read). */
export function readingInto(accepted: net.Socket, buffer: Buffer, callback: (n: number) => boolean): net.Socket {
  const holder = accepted as unknown as { _handle: unknown };
  const handle = holder._handle;
  holder._handle = null;
  accepted.destroy();
  return new net.Socket({ handle, allowHalfOpen: true, pauseOnCreate: true, onread: { buffer, callback } } as net.SocketConstructorOpts);
}
