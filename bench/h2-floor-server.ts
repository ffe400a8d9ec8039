// The HTTP/2 bench's "floor": the least a Node proxy on node:http2 can do per request, to show
// what nghttp2 through Node costs on this machine in the same run. One h2c server, one client
// session to the upstream, each stream's method/path/authority forwarded with endStream, the
// status and body passed back: no routing, no header copying, no validation, no stats, no
// request bodies. Not a proxy anyone should run. argv: <listen port> <upstream port>.
import http2 from 'node:http2';

const [port, upstreamPort] = process.argv.slice(2).map(Number) as [number, number];
const upstream = http2.connect(`http://127.0.0.1:${upstreamPort}`);
upstream.on('error', () => process.exit(1));
const server = http2.createServer({ settings: { maxConcurrentStreams: 2048 } });
server.on('stream', (stream, headers) => {
  stream.on('error', () => undefined);
  const req = upstream.request({ ':method': headers[':method'], ':path': headers[':path'], ':authority': headers[':authority'], ':scheme': 'http' }, { endStream: true });
  req.on('error', () => { if (!stream.destroyed) stream.close(http2.constants.NGHTTP2_INTERNAL_ERROR); });
  req.on('response', (h) => { if (!stream.destroyed) stream.respond({ ':status': h[':status'] }); });
  req.on('data', (d: Buffer) => { if (!stream.destroyed) stream.write(d); });
  req.on('end', () => { if (!stream.destroyed) stream.end(); });
});
server.listen(port, '127.0.0.1');
