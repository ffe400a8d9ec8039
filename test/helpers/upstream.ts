// Real upstream servers on 127.0.0.1 for integration tests.
import http from 'node:http';
import net from 'node:net';

export interface Upstream {
  server: http.Server | net.Server;
  port: number;
  close(): Promise<void>;
}

function listen<S extends http.Server | net.Server>(server: S): Promise<Upstream> {
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => {
      const port = (server.address() as net.AddressInfo).port;
      resolve({
        server, port,
        close: () => new Promise<void>((r) => {
          if (server instanceof http.Server) server.closeAllConnections();
          server.close(() => r());
        }),
      });
    });
  });
}

export function httpUpstream(handler: http.RequestListener): Promise<Upstream> {
  return listen(http.createServer({ keepAliveTimeout: 5000 }, handler));
}

/** Answers every request with JSON describing what it received (method, url, headers, body size). */
export function echoUpstream(name: string): Promise<Upstream> {
  return httpUpstream((req, res) => {
    let size = 0;
    req.on('data', (d: Buffer) => { size += d.length; });
    req.on('end', () => {
      const body = JSON.stringify({ name, method: req.method, url: req.url, headers: req.headers, rawHeaders: req.rawHeaders, bodySize: size });
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), 'x-upstream': name });
      res.end(body);
    });
  });
}

/** A raw TCP upstream: `onRequest` gets the socket once a request head has arrived. */
export function rawUpstream(onRequest: (socket: net.Socket, head: string) => void): Promise<Upstream> {
  return listen(net.createServer((socket) => {
    let buf = '';
    const onData = (d: Buffer): void => {
      buf += d.toString('latin1');
      const end = buf.indexOf('\r\n\r\n');
      if (end >= 0) {
        socket.off('data', onData);
        onRequest(socket, buf.slice(0, end));
      }
    };
    socket.on('data', onData);
    socket.on('error', () => undefined);
  }));
}
