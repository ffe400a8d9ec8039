// One upstream HTTP/2 connection (a node:http2 ClientHttp2Session over h2c, or TLS with ALPN h2):
// how many streams it may carry (the peer's SETTINGS_MAX_CONCURRENT_STREAMS, capped by the
// DestinationRule's maxConcurrentStreams), how many it carries, how many it carried in all
// (maxRequestsPerConnection), and whether it still takes new ones (not after GOAWAY, an error,
// or its request budget).
import type { ClientHttp2Session, ClientHttp2Stream, Settings } from 'node:http2';
import { http2Module } from '../../http/http2-module.js';
import net from 'node:net';
import type { TLSSocket } from 'node:tls';
import { badRequest, upstreamConnectFailure, type ProxyError } from '../../http/errors.js';
import { connectTlsH2, meshPeerPrincipal, type UpstreamTls } from '../../tls/outbound/client-tls.js';
import { requestHeaderBlock } from './headers.js';
import type { H2Exchange, StreamOwner } from './stream.js';

export const CONNECTING = 0;
export const READY = 1;
/** no new streams (GOAWAY received, request budget used): closes when its streams are done */
export const DRAINING = 2;
export const CLOSED = 3;

/** nghttp2 assumes this many concurrent streams until the peer's SETTINGS say otherwise */
export const INITIAL_MAX_STREAMS = 100;
const STREAM_WINDOW = 1024 * 1024;
const CONNECTION_WINDOW = 8 * 1024 * 1024;
const MAX_SESSION_MEMORY_MB = 64;

export interface ConnectionOwner {
  /** 0 = no limit */
  readonly maxRequestsPerConnection: number;
  /** 0 = the peer's limit */
  readonly maxConcurrentStreams: number;
  /** the endpoint's stream limit as last seen (a new connection assumes it until its SETTINGS arrive) */
  peerMaxStreams: number;
  onConnected(conn: H2Connection): void;
  onConnectFailed(conn: H2Connection, err: ProxyError): void;
  /** a stream slot came free, or the peer allows more streams */
  onCapacity(conn: H2Connection): void;
  /** the connection takes no new streams (GOAWAY, budget) or is gone */
  onUnavailable(conn: H2Connection): void;
  onClosed(conn: H2Connection): void;
  queuedAborted(ex: H2Exchange): void;
}

const SESSION = Symbol('meshlet.h2conn');
type Carrier = ClientHttp2Session & { [SESSION]?: H2Connection };

export class H2Connection implements StreamOwner {
  state = CONNECTING;
  /** slot in the pool's connection list */
  index = -1;
  /** Date.now() when it started connecting, or last had no stream */
  since: number;
  active = 0;
  requests = 0;
  /** streams the peer allows (its last SETTINGS; until they arrive, what the pool learned from the endpoint before) */
  maxStreams: number;
  goneReason: string | null = null;
  /** mesh mTLS: the server's verified SPIFFE id (full handshake or the resumed session's), once connected */
  peerPrincipal: string | null = null;
  /** the pool was told it is gone (connect failure or close), once */
  private reported = false;
  private readonly owner: ConnectionOwner;
  private readonly session: ClientHttp2Session;
  private readonly socket: net.Socket;
  private readonly scheme: string;
  private readonly authority: string;

  constructor(owner: ConnectionOwner, address: string, port: number, tlsSettings: UpstreamTls | null) {
    this.owner = owner;
    this.since = Date.now();
    this.maxStreams = owner.peerMaxStreams;
    const host = address.includes(':') ? `[${address}]` : address;
    this.authority = `${host}:${port}`;
    this.scheme = tlsSettings === null ? 'http' : 'https';
    const socket: net.Socket = tlsSettings === null ? net.connect({ host: address, port }) : connectTlsH2(address, port, tlsSettings);
    this.socket = socket;
    socket.setNoDelay(true);
    if (tlsSettings !== null) socket.once('secureConnect', checkAlpn);
    const session = http2Module().connect(`${this.scheme}://${this.authority}`, {
      createConnection: () => socket,
      settings: { enablePush: false, initialWindowSize: STREAM_WINDOW },
      maxSessionMemory: MAX_SESSION_MEMORY_MB,
      peerMaxConcurrentStreams: INITIAL_MAX_STREAMS,
    });
    this.session = session;
    (session as Carrier)[SESSION] = this;
    session.on('connect', onConnect);
    session.on('remoteSettings', onRemoteSettings);
    session.on('goaway', onGoaway);
    session.on('error', onSessionError);
    session.on('close', onSessionClose);
  }

  /** Streams it can open now. */
  get free(): number {
    if (this.state !== READY) return 0;
    const limit = this.owner.maxRequestsPerConnection;
    const byBudget = limit === 0 ? Infinity : limit - this.requests;
    return Math.min(this.maxStreams - this.active, byBudget);
  }

  /** Opens a stream for `ex` (the connection is READY with a free slot). */
  start(ex: H2Exchange): void {
    this.active++;
    this.requests++;
    const req = ex.req;
    let stream: ClientHttp2Stream;
    try {
      const headers = requestHeaderBlock(req.method, req.path, req.headers, this.scheme, this.authority, req.teTrailers === true);
      stream = this.session.request(headers, { endStream: req.body === null || req.contentLength === 0 });
    } catch (err) {
      // a header HTTP/2 cannot carry (Node refuses it before anything is sent)
      this.active--;
      this.requests--;
      ex.done = true;
      ex.handler.onUpstreamError(badRequest(`request cannot be sent over HTTP/2: ${(err as Error).message}`));
      return;
    }
    ex.attach(this, stream);
    const limit = this.owner.maxRequestsPerConnection;
    if (limit > 0 && this.requests >= limit) this.drain();
  }

  // ---- StreamOwner ----

  streamClosed(_ex: H2Exchange): void {
    this.active--;
    if (this.active === 0) this.since = Date.now();
    if (this.state === READY) this.owner.onCapacity(this);
    else if (this.state === DRAINING && this.active === 0 && !this.session.closed) this.session.close();
  }

  queuedAborted(ex: H2Exchange): void {
    this.owner.queuedAborted(ex);
  }

  // ---- lifecycle ----

  /**
   * No new streams; the session closes (a GOAWAY of ours) once its streams are done. (Not at
   * once: nghttp2 refuses a client's streams not yet sent once the client has sent GOAWAY.)
   */
  drain(): void {
    if (this.state === CONNECTING) return this.destroy('closed while connecting');
    if (this.state !== READY) return;
    this.state = DRAINING;
    this.owner.onUnavailable(this);
    if (this.active === 0) this.session.close();
  }

  /** Now: streams in flight fail. */
  destroy(reason: string): void {
    if (this.state === CLOSED) return;
    this.goneReason ??= reason;
    this.session.destroy();
  }

  connectTimedOut(ms: number): void {
    if (this.state !== CONNECTING) return;
    this.connectFailed(upstreamConnectFailure('connection timeout', `connect timeout after ${ms} ms`));
    this.session.destroy();
  }

  /** Reported once: the pool forgets the connection and fails what waited for it. */
  private connectFailed(err: ProxyError): void {
    this.state = CLOSED;
    if (this.reported) return;
    this.reported = true;
    this.owner.onConnectFailed(this, err);
  }

  /** @internal */
  onConnect(): void {
    if (this.state !== CONNECTING) return;
    this.state = READY;
    if ((this.socket as TLSSocket).encrypted === true) this.peerPrincipal = meshPeerPrincipal(this.socket as TLSSocket);
    try {
      this.session.setLocalWindowSize(CONNECTION_WINDOW);
    } catch {
      // closing already
    }
    this.owner.onConnected(this);
  }

  /** @internal */
  onRemoteSettings(maxConcurrentStreams: number | undefined): void {
    const cap = this.owner.maxConcurrentStreams;
    const peer = maxConcurrentStreams ?? 0xffffffff;
    this.maxStreams = cap > 0 ? Math.min(cap, peer) : peer;
    this.owner.peerMaxStreams = this.maxStreams;
    if (this.state === READY) this.owner.onCapacity(this);
  }

  /** @internal the peer sends GOAWAY: streams above its last id are refused (REFUSED_STREAM, retryable) */
  onGoaway(code: number): void {
    if (this.state === CLOSED) return;
    if (code !== 0) this.goneReason = `GOAWAY error ${code}`;
    if (this.state === READY || this.state === CONNECTING) {
      this.state = DRAINING;
      this.owner.onUnavailable(this);
    }
  }

  /** @internal */
  onError(err: Error): void {
    const code = (err as { code?: string }).code;
    const detail = code === undefined ? err.message : `${code} ${err.message}`;
    if (this.state === CONNECTING) return this.connectFailed(upstreamConnectFailure('remote connection failure', detail, code));
    this.goneReason ??= detail;
  }

  /** @internal */
  onClose(): void {
    if (this.state === CONNECTING) {
      return this.connectFailed(upstreamConnectFailure('remote connection failure', this.goneReason ?? 'connection closed while connecting'));
    }
    this.state = CLOSED;
    this.goneReason ??= 'connection closed';
    if (this.reported) return;
    this.reported = true;
    this.owner.onClosed(this);
  }
}

function conn(s: ClientHttp2Session): H2Connection | undefined {
  return (s as Carrier)[SESSION];
}

function onConnect(this: ClientHttp2Session): void {
  conn(this)?.onConnect();
}

function onRemoteSettings(this: ClientHttp2Session, settings: Settings): void {
  conn(this)?.onRemoteSettings(settings.maxConcurrentStreams);
}

function onGoaway(this: ClientHttp2Session, code: number): void {
  conn(this)?.onGoaway(code);
}

function onSessionError(this: ClientHttp2Session, err: Error): void {
  conn(this)?.onError(err);
}

function onSessionClose(this: ClientHttp2Session): void {
  conn(this)?.onClose();
}

/** mTLS: a peer that did not agree to h2 cannot carry this pool's streams. */
function checkAlpn(this: TLSSocket): void {
  if (this.alpnProtocol !== 'h2') this.destroy(new Error(`the peer did not negotiate h2 (ALPN ${this.alpnProtocol === false ? 'none' : this.alpnProtocol})`));
}
