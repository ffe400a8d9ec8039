// node:tls, loaded when first needed and through require, never by an ESM import:
// - a sidecar without mesh mTLS never loads it (tls and its internals are ~0.4 MB of heap per thread);
// - to build the ESM namespace of a builtin, Node reads every export, and tls's lazy
//   `rootCertificates` getter then turns Node's ~140 bundled root CA certificates into JavaScript
//   strings (~0.2 MB more, kept for good) that meshlet never reads (its trust roots are the mesh CA's).
// Call nodeTls() where a TLS context, server or connection is made; `import type` from 'node:tls'
// costs nothing and may stay. (A socket is a TLSSocket when `encrypted` is true: no need to load
// tls for an instanceof.)
import { createRequire } from 'node:module';
import type * as Tls from 'node:tls';

const require = createRequire(import.meta.url);
let tls: typeof Tls | null = null;

export function nodeTls(): typeof Tls {
  if (tls === null) tls = require('node:tls') as typeof Tls;
  return tls;
}
