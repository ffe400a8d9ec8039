// The demo's stand-in for the seed's product-service Deployments: answers with its version.
import http from 'node:http';

export function startProductApp(version: string): Promise<http.Server> {
  const server = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'application/json', 'x-version': version });
      res.end(`{"service":"product-service","version":"${version}","path":${JSON.stringify(req.url)}}\n`);
    });
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

export function portOf(server: http.Server): number {
  const addr = server.address();
  if (addr === null || typeof addr === 'string') throw new Error('server is not listening on TCP');
  return addr.port;
}
