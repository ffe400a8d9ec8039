// The metadata exchange once per connection, between two meshlet sidecars. Istio's sidecars send
// their metadata (x-envoy-peer-metadata and its id, ~370 bytes) with every HTTP request and every
// response; between meshlet peers it crosses each mTLS connection once. A meshlet client offers
// MX_ALPN before http/1.1 on its mesh connections and a meshlet server prefers it, so an Envoy on
// either side never selects it and gets the headers on every message as before. On a connection
// that chose it:
// - the client sends its metadata with each request until it has believed the server's (the
//   first response, normally); the server believes it (against the connection's verified
//   certificate, as always) and the connection's later requests without metadata carry the same peer;
// - the server answers with its own exactly as Istio's does: to a request whose metadata it
//   believed (so not to the later ones); the client keeps the peer it believed for the
//   connection's later responses.
// A response that lost the server's metadata (a local error reply in its place, say) only means
// the next request carries the client's again. The stats, and what the apps see (never these
// headers), are the same as with Istio's exchange.

/** The ALPN protocol of HTTP/1.1 with the metadata exchanged once per connection. */
export const MX_ALPN = 'meshlet-http/1.1';

/** One side's exchange state on one such connection. */
export class MxOnce {
  /** the peer's stats id learned on this connection (-2: none yet; the client sends its metadata until then) */
  peerId = -2;
}
