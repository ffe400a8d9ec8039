// The peer bench's "floor": the least a Node proxy on uWS can do per request, to show what this
// runtime allows on this machine in the same run. uWS inbound, a raw net.Socket keep-alive pool
// upstream, GET only, Content-Length responses only, the status and body passed through with one
// header: no routing, no header copying, no validation, no stats. Not a proxy anyone should run.
// argv: <listen port> <upstream port>.
import net from 'node:net';
import { uWS, type HttpRequest, type HttpResponse } from '../src/uws.js';

const [port, upstreamPort] = process.argv.slice(2).map(Number) as [number, number];
const READ_BUFFER = Buffer.allocUnsafe(64 * 1024);
const idle: Upstream[] = [];

interface Upstream {
  socket: net.Socket;
  res: HttpResponse | null;
  /** bytes of a response that arrived over several reads */
  held: Buffer | null;
}

let corkRes: HttpResponse;
let corkStatus = '';
let corkBody: Buffer;
function corked(): void {
  corkRes.writeStatus(corkStatus).writeHeader('content-type', 'text/plain').end(corkBody);
}

function onRead(this: Upstream, n: number): boolean {
  let data = READ_BUFFER.subarray(0, n);
  if (this.held !== null) data = Buffer.concat([this.held, data]);
  const headEnd = data.indexOf('\r\n\r\n', 0, 'latin1');
  const length = headEnd < 0 ? 0 : contentLength(data, headEnd);
  if (headEnd < 0 || data.length < headEnd + 4 + length) {
    this.held = Buffer.from(data);
    return true;
  }
  this.held = null;
  const res = this.res as HttpResponse & { aborted?: boolean };
  this.res = null;
  idle.push(this);
  if (res.aborted === true) return true;
  corkRes = res;
  corkStatus = data.toString('latin1', 9, 12);
  if (corkStatus === '200') corkStatus = '200 OK';
  corkBody = data.subarray(headEnd + 4, headEnd + 4 + length);
  res.cork(corked);
  return true;
}

/** Content-Length of a head that ends at headEnd (0 when absent): both spellings nginx and node use. */
function contentLength(data: Buffer, headEnd: number): number {
  let at = data.indexOf('Content-Length:', 0, 'latin1');
  if (at < 0 || at > headEnd) at = data.indexOf('content-length:', 0, 'latin1');
  if (at < 0 || at > headEnd) return 0;
  let length = 0;
  for (let i = at + 15; i < headEnd; i++) {
    const d = data[i]! - 48;
    if (d >= 0 && d <= 9) length = length * 10 + d;
    else if (data[i] === 13) break;
  }
  return length;
}

function connect(): Upstream {
  const up: Upstream = { socket: null as unknown as net.Socket, res: null, held: null };
  up.socket = net.connect({ port: upstreamPort, host: '127.0.0.1', onread: { buffer: READ_BUFFER, callback: onRead.bind(up) } });
  up.socket.setNoDelay(true);
  up.socket.on('error', ignore);
  up.socket.on('close', onClose.bind(up));
  return up;
}

function ignore(): void {}

/** The upstream closed this connection: out of the pool, and a request waiting on it gets a 502. */
function onClose(this: Upstream): void {
  const at = idle.indexOf(this);
  if (at >= 0) idle.splice(at, 1);
  const res = this.res as (HttpResponse & { aborted?: boolean }) | null;
  this.res = null;
  if (res === null || res.aborted === true) return;
  corkRes = res;
  res.cork(corked502);
}

function corked502(): void {
  corkRes.writeStatus('502 Bad Gateway').end();
}

function onAborted(this: HttpResponse & { aborted?: boolean }): void {
  this.aborted = true;
}

function handle(res: HttpResponse, req: HttpRequest): void {
  res.onAborted(onAborted.bind(res));
  const up = idle.pop() ?? connect();
  up.res = res;
  up.socket.write(`GET ${req.getUrl()} HTTP/1.1\r\nhost: ${req.getHeader('host')}\r\n\r\n`, 'latin1');
}

const app = uWS.App().any('/*', handle);
app.listen('127.0.0.1', port, (listenSocket) => {
  if (!listenSocket) {
    process.stderr.write(`uws-floor: cannot listen on 127.0.0.1:${port}\n`);
    process.exit(1);
  }
});
process.once('SIGTERM', () => {
  (app as unknown as { close(): void }).close();
  for (const up of idle) up.socket.destroy();
  process.exit(0);
});
