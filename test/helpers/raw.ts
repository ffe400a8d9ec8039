// Raw HTTP/1.1 over a socket, for requests a well-behaved client library will not send.
import net from 'node:net';
import { once } from 'node:events';

/**
 * Sends `text` and returns what comes back until the server closes, the response is complete
 * (Content-Length reached), or `deadlineMs` passes with nothing more (a server may drop a malformed request
 * without a status, and there is no event for "nothing was sent").
 */
export async function rawRequest(port: number, text: string | Buffer, deadlineMs = 1500): Promise<string> {
  const socket = net.connect(port, '127.0.0.1');
  await once(socket, 'connect');
  socket.write(text);
  const out = await readResponse(socket, deadlineMs);
  socket.destroy();
  return out;
}

/**
 * What comes back on an open `socket` until the server closes, one response is complete
 * (Content-Length reached) or `deadlineMs` passes with it incomplete; the socket stays open, so a
 * next request can follow on the same connection.
 */
export async function readResponse(socket: net.Socket, deadlineMs: number): Promise<string> {
  let out = '';
  let settle: () => void = () => {};
  const onData = (d: Buffer): void => {
    out += d.toString('latin1');
    if (complete(out)) settle();
  };
  const ended = (): void => settle();
  const timer = setTimeout(ended, deadlineMs);
  socket.on('data', onData).on('close', ended).on('error', ended);
  await new Promise<void>((resolve) => { settle = resolve; });
  clearTimeout(timer);
  socket.off('data', onData).off('close', ended).off('error', ended);
  return out;
}

function complete(out: string): boolean {
  const end = out.indexOf('\r\n\r\n');
  if (end < 0) return false;
  const m = /\r\ncontent-length: *(\d+)/i.exec(out.slice(0, end));
  return m !== null && out.length - end - 4 >= Number(m[1]);
}
