// Loads uWebSockets.js's native binary directly. The package's own entry silently falls back to
// a slow pure-JS server when the binary does not load; meshlet refuses to run on that instead.
import { createRequire } from 'node:module';
import type * as UWS from 'uWebSockets.js';

export type { HttpRequest, HttpResponse, TemplatedApp, us_listen_socket } from 'uWebSockets.js';

const require = createRequire(import.meta.url);

function loadNative(): typeof UWS {
  const binary = `uWebSockets.js/binaries/uws_${process.platform}_${process.arch}_${process.versions.modules}.node`;
  let mod: typeof UWS;
  try {
    mod = require(binary) as typeof UWS;
  } catch (err) {
    throw new Error(
      `uWebSockets.js native binary did not load for Node ${process.version} on ${process.platform}-${process.arch} ` +
        `(ABI ${process.versions.modules}); meshlet needs Node 20 on linux-x64/arm64 or darwin: ${(err as Error).message}`,
    );
  }
  if (typeof mod.App !== 'function' || typeof mod.SSLApp !== 'function') {
    throw new Error(`uWebSockets.js binary ${binary} loaded but exports no App/SSLApp`);
  }
  return mod;
}

export const uWS = loadNative();
