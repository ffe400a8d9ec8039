// Free loopback ports for tests: bind port 0, read it, close. A port is closed again before the
// test binds it, so the kernel may hand the same number out twice (two sidecars started at once
// each got a listener port and an admin port, and one collided with the other: EADDRINUSE in a
// fresh-clone CI): a number this process was already given is never given again.
import net from 'node:net';

const given = new Set<number>();

function boundPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const addr = server.address() as net.AddressInfo;
      server.close(() => resolve(addr.port));
    });
  });
}

export async function freePort(): Promise<number> {
  for (let i = 0; i < 100; i++) {
    const port = await boundPort();
    if (given.has(port)) continue;
    given.add(port);
    return port;
  }
  throw new Error(`no loopback port not given before in 100 tries (${given.size} given)`);
}
