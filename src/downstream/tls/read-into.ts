// Decrypted bytes of an accepted TLS connection read into a caller's buffer, as plaintext sockets
// do (net's `onread`): no Buffer per read, no Readable push (and its nextTick) per read.
// node gives `onread` only to TLS sockets it creates itself (tls.connect); a tls.Server's sockets
// get 'data' events. A TLS socket is a net.Socket on a TLSWrap handle, which reads into a user
// buffer like any stream handle (`useUserBuffer`, what `onread` calls): this switches an
// established server socket to that, through net's own (internal) fields, found once on a probe
// socket made with `onread`. When this node does not have them, nothing is switched (false) and
// the caller keeps 'data' events.
import net from 'node:net';
import type { TLSSocket } from 'node:tls';

interface UserBufferFields { buffer: symbol; callback: symbol; generator: symbol }

const FIELDS: UserBufferFields | null = findFields();

function findFields(): UserBufferFields | null {
  // (@types/node 20 does not list onread for the constructor)
  const probe = new net.Socket({ onread: { buffer: Buffer.alloc(1), callback: () => true } } as net.SocketConstructorOpts);
  const bySymbol = new Map(Object.getOwnPropertySymbols(probe).map((s) => [s.description, s]));
  probe.destroy();
  const [buffer, callback, generator] = [bySymbol.get('kBuffer'), bySymbol.get('kBufferCb'), bySymbol.get('kBufferGen')];
  if (buffer === undefined || callback === undefined || generator === undefined) return null;
  return { buffer, callback, generator };
}

type Switchable = TLSSocket & { _handle: { useUserBuffer?(buf: Buffer): void } | null } & Record<symbol, unknown>;

/**
 * From now on `socket`'s decrypted reads land in `buffer`, `callback(n)` called on the socket
 * (`this`) per read, as with net's `onread`. Returns what the socket had already read and buffered
 * (to be processed first: it came before), or null; false when it cannot switch ('data' then).
 * The socket must be paused with no 'data' listener (as a tls.Server hands it over).
 */
export function readDecryptedInto(socket: TLSSocket, buffer: Buffer, callback: (n: number) => boolean): Buffer | null | false {
  const s = socket as Switchable;
  const handle = s._handle;
  if (FIELDS === null || handle === null || typeof handle.useUserBuffer !== 'function') return false;
  handle.useUserBuffer(buffer);
  s[FIELDS.buffer] = buffer;
  s[FIELDS.callback] = callback;
  s[FIELDS.generator] = null;
  return socket.readableLength > 0 ? socket.read() as Buffer : null;
}
