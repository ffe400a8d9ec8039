// Listening sockets with SO_REUSEPORT, from meshlet's small native addon (src/native/): Node 20's
// net module cannot set it, and every data-plane worker needs its own socket on each listener port.
import { createRequire } from 'node:module';

const BACKLOG = 511;

interface ReusePortAddon {
  listen(host: string, port: number, backlog: number): number;
}

let addon: ReusePortAddon | null = null;

function load(): ReusePortAddon {
  const require = createRequire(import.meta.url);
  // dist/src/downstream/ → the repository root → src/native/build (built by `npm ci` / `npm run build:native`)
  const path = new URL('../../../src/native/build/Release/reuseport.node', import.meta.url);
  try {
    return require(path.pathname) as ReusePortAddon;
  } catch (err) {
    throw new Error(`meshlet's native listener addon did not load (run \`npm run build:native\`): ${(err as Error).message}`);
  }
}

/** A listening TCP socket on host:port that other workers share (SO_REUSEPORT); returns its fd. */
export function listenReusePort(host: string, port: number): number {
  addon ??= load();
  return addon.listen(host, port, BACKLOG);
}
