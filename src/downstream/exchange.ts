// The seam between a downstream protocol adapter (the client's side of a request) and the
// request path: the adapter hands the request path a parsed head, a body stream and a
// ResponseSink; the request path answers through the sink and hears about the client through
// ExchangeHandler. Neither side sees the other's sockets or framing.
import type net from 'node:net';
import type { ProxyError } from '../http/errors.js';
import type { MxOnce } from '../telemetry/mx-once.js';
import type { PeerIdentity } from '../tls/inbound/server-tls.js';

/** What the request path writes the response to. Exactly one of end(), reply() or reset() ends it. */
export interface ResponseSink {
  /** the client's address as text */
  readonly remoteAddress: string;
  /** the verified mTLS peer of the connection, read once at its handshake; null for plaintext */
  readonly peer: PeerIdentity | null;
  /** the connection's metadata exchange once per connection (HTTP/1.1 between meshlet peers), null or absent otherwise */
  readonly mx?: MxOnce | null;
  /**
   * The response head: `headers` flat [lowercase name, value, ...] without framing or hop-by-hop
   * headers; `contentLength` -1 when unknown; `bodyless` for HEAD, 204 and 304. It is held back
   * until the first body bytes, the end or flush(), so that head and body leave in one write.
   */
  head(status: number, headers: string[], contentLength: number, bodyless: boolean): void;
  /** A held head leaves now. */
  flush(): void;
  /**
   * Body bytes (valid during the call only, unless `owned`: then nobody reuses them and the sink
   * may keep them). false: the client is slow, wait for onWritable().
   */
  data(chunk: Buffer, owned?: boolean): boolean;
  /**
   * The response's trailer fields (flat [lowercase name, value, ...], checked), just before end():
   * HTTP/2 sends them as a trailing HEADERS frame, HTTP/1.1 in the last chunk of a chunked body
   * (a response framed by Content-Length has no room for them: they are dropped).
   */
  trailers(headers: string[]): void;
  /** The response is complete. */
  end(): void;
  /** A whole synthetic reply (built by src/http/respond.ts); `close` closes the connection after it. */
  reply(status: number, headers: string[], body: string, close: boolean): void;
  /**
   * The response cannot be completed: the client connection is closed (HTTP/1.1) or the stream
   * reset (HTTP/2: RST_STREAM with `code`, an HTTP/2 error code, or INTERNAL_ERROR when -1).
   */
  reset(code?: number): void;
  /** Request body flow control: stop and restart reading the client. */
  pauseBody(): void;
  resumeBody(): void;
  /**
   * The upstream switched to WebSocket: the 101 with `headers` (flat, no hop-by-hop ones: the
   * adapter adds Connection and Upgrade) goes to the client, and the connection leaves HTTP: the
   * caller relays it from then on. null when the client is gone. Absent: the adapter cannot
   * upgrade (the request is then forwarded as a plain request, its Upgrade dropped).
   */
  upgrade?(headers: string[]): UpgradedClient | null;
}

/** A client connection after a 101: its socket, and what the HTTP adapter had already read. */
export interface UpgradedClient {
  readonly socket: net.Socket;
  /** bytes the client sent after its request head, before the 101 (null: none) */
  readonly early: Buffer | null;
  /** From now on the client's bytes go to `target.fromDown` (the adapter may read the socket itself), and the listener's sweeps and close reach it. */
  relayTo(target: UpgradeTarget): void;
}

/** What an upgraded connection is handed to (the WebSocket tunnel). */
export interface UpgradeTarget {
  /** client bytes, in a buffer the target may keep */
  fromDown(chunk: Buffer): void;
  /** once a second, with the listener's clock tick */
  sweep(now: number): void;
  /** the listener closes (drain timeout, shutdown): end the connection as the protocol says (WebSocket: 1001) */
  goAway(): void;
}

/** What the adapter tells the request path about the client. */
export interface ExchangeHandler {
  /** The client went away before the response ended. */
  onAborted(): void;
  /** The client took what data() could not: send more. */
  onWritable(): void;
  /** The request body's framing broke or it stopped arriving: answer `err` (or reset) and close. */
  onBodyError(err: ProxyError): void;
  /**
   * The request was read and its response written: the adapter lets go of the handler and never
   * calls it again (the request path may reuse it for another request). Optional for an adapter.
   */
  retired?(): void;
}
