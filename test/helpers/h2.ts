// HTTP/2 ends for tests (node:http2): an h2c-only upstream that reports what it received, and a
// one-request client.
import http from 'node:http';
import http2, { type IncomingHttpHeaders, type OutgoingHttpHeaders } from 'node:http2';
import net from 'node:net';

export interface H2Upstream {
  server: http2.Http2Server;
  port: number;
  close(): Promise<void>;
}

/**
 * Answers each stream with JSON {version, method, path, authority, bytes, headers} and header
 * x-upstream: `name`; with trailers x-trailer: end, x-count: <body bytes> when the request said
 * `te: trailers`. Plaintext HTTP/2 only (prior knowledge): HTTP/1.1 fails the session.
 */
export function startH2Upstream(name: string): Promise<H2Upstream> {
  const server = http2.createServer();
  const sessions = new Set<http2.ServerHttp2Session>();
  server.on('session', (s) => { sessions.add(s); s.on('close', () => sessions.delete(s)); });
  server.on('sessionError', () => undefined);
  server.on('stream', (stream, headers) => {
    let bytes = 0;
    stream.on('data', (d: Buffer) => { bytes += d.length; });
    stream.on('end', () => {
      const plain: Record<string, string | string[] | undefined> = {};
      for (const [k, v] of Object.entries(headers)) if (!k.startsWith(':')) plain[k] = v;
      const body = JSON.stringify({ version: '2.0', method: headers[':method'], path: headers[':path'], authority: headers[':authority'], bytes, headers: plain });
      const trailers = headers.te === 'trailers';
      stream.respond({ ':status': 200, 'content-type': 'application/json', 'x-upstream': name }, { waitForTrailers: trailers });
      if (trailers) stream.once('wantTrailers', () => stream.sendTrailers({ 'x-trailer': 'end', 'x-count': String(bytes) }));
      stream.end(body);
    });
  });
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => {
      const port = (server.address() as net.AddressInfo).port;
      resolve({
        server, port,
        close: () => new Promise<void>((r) => {
          for (const s of sessions) s.destroy();
          server.close(() => r());
        }),
      });
    });
  });
}

export interface H2Response {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
  trailers: Record<string, string>;
}

/** One request over HTTP/2 (a new h2c connection unless `session` is given). */
export async function h2Request(port: number, headers: OutgoingHttpHeaders, body: Buffer | null, session?: http2.ClientHttp2Session): Promise<H2Response> {
  const own = session === undefined;
  const s = session ?? http2.connect(`http://127.0.0.1:${port}`);
  try {
    return await new Promise<H2Response>((resolve, reject) => {
      const req = s.request(headers, { endStream: body === null });
      const chunks: Buffer[] = [];
      let status = 0;
      let head: IncomingHttpHeaders = {};
      const trailers: Record<string, string> = {};
      req.on('response', (h) => { head = h; status = Number(h[':status']); });
      req.on('trailers', (t) => { for (const [k, v] of Object.entries(t)) if (typeof v === 'string') trailers[k] = v; });
      req.on('data', (d: Buffer) => chunks.push(d));
      req.on('end', () => resolve({ status, headers: head, body: Buffer.concat(chunks), trailers }));
      req.on('error', reject);
      if (body !== null) req.end(body);
    });
  } finally {
    if (own) s.close();
  }
}

/**
 * One plaintext port serving both HTTP/1.1 and h2c with prior knowledge (the first bytes decide):
 * each answer's body is the protocol version the request came in ('1.1' or '2.0').
 */
export async function dualProtocolUpstream(): Promise<{ port: number; close(): Promise<void> }> {
  const answer = (req: http.IncomingMessage | http2.Http2ServerRequest, res: http.ServerResponse | http2.Http2ServerResponse): void => {
    req.resume();
    res.end(req.httpVersion);
  };
  const h1 = http.createServer(answer);
  const h2 = http2.createServer(answer);
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.once('data', (first: Buffer) => {
      socket.pause();
      socket.unshift(first);
      if (first.toString('latin1').startsWith('PRI * HTTP/2.0')) h2.emit('connection', socket);
      else {
        h1.emit('connection', socket);
        socket.resume();
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    close: () => new Promise<void>((resolve) => {
      for (const s of sockets) s.destroy();
      server.close(() => resolve());
    }),
  };
}
