// The HTTP/2 side of one listener in one worker: node:http2 (nghttp2) sessions on connections the
// listener accepted and recognised as HTTP/2 (the h2c prior-knowledge preface on a plaintext or
// PERMISSIVE port, see H1Connection; ALPN h2 on an mTLS port, see downstream/tls/alpn.ts, with the
// peer's identity read at the handshake), each stream handed to the same request pipeline
// (startRequest) as an HTTP/1.1 request. The server never listens itself: every connection
// arrives through adopt(), on the worker that accepted it (SO_REUSEPORT), so HTTP/2 is served by
// every data-plane worker and never by the control thread.
//
// nghttp2 enforces the frame layer: a malformed frame, a flood of SETTINGS, PINGs or RST_STREAMs
// (rapid reset), too many invalid frames or refused streams end the session with GOAWAY
// (PROTOCOL_ERROR, COMPRESSION_ERROR, or INTERNAL_ERROR for floods as Node reports them); errors
// are logged at debug and never reach the worker's event loop. A flood closes the connection at
// once; after a protocol error nghttp2 stops reading and the idle timeout closes it.
import type { Http2Server, ServerHttp2Session, ServerHttp2Stream } from 'node:http2';
import { http2Module, NGHTTP2_FLAG_END_STREAM, NGHTTP2_REFUSED_STREAM } from '../../http/http2-module.js';
import type net from 'node:net';
import type { ProxyError } from '../../http/errors.js';
import { errorReply } from '../../http/respond.js';
import { workerLog } from '../../log.js';
import type { PeerIdentity } from '../../tls/inbound/server-tls.js';
import { ClientBody } from '../../request/client-body.js';
import type { ExchangeHandler } from '../exchange.js';
import { NO_BODY, RequestHead } from '../h1/request-head.js';
import { readH2Head } from './request-head.js';
import { H2Stream, type H2SessionInfo } from './stream.js';

const INFO = Symbol('meshlet.h2session');

/**
 * Stream and connection windows: what one stream, and one connection, may have in flight
 * unread. A request body whose upstream is slow stops being read, so the client's window is not
 * replenished: memory per connection stays within the connection window.
 */
const STREAM_WINDOW = 1024 * 1024;
const CONNECTION_WINDOW = 8 * 1024 * 1024;
/** concurrent streams a client may open on one connection (Envoy's default is unbounded) */
export const MAX_CONCURRENT_STREAMS = 2048;
/** nghttp2's memory budget per session (MB): beyond it new streams are refused (ENHANCE_YOUR_CALM) */
const MAX_SESSION_MEMORY_MB = 64;

export interface H2Owner {
  /** the listener's idle timeout: a connection without streams for this long is closed (GOAWAY) */
  readonly idleTimeoutS: number;
  startExchange(sink: H2Stream, head: RequestHead, body: ClientBody | null): ExchangeHandler;
  /** a stream refused while its head was read (no exchange was started): one stats record */
  refused(err: ProxyError, bytesSent: number): void;
}

class SessionInfo implements H2SessionInfo {
  readonly remoteAddress: string;
  readonly peer: PeerIdentity | null;
  session: ServerHttp2Session | null = null;
  streams = 0;
  constructor(remoteAddress: string, peer: PeerIdentity | null) {
    this.remoteAddress = remoteAddress;
    this.peer = peer;
  }
}

type InfoCarrier = ServerHttp2Session & { [INFO]?: SessionInfo };

export class H2Server {
  private readonly owner: H2Owner;
  private readonly server: Http2Server;
  private readonly sessions = new Set<SessionInfo>();
  /** the connection being adopted: its session is created synchronously inside emit('connection') */
  private adopting: SessionInfo | null = null;
  /** one head parsed at a time (startRequest copies what it keeps) */
  private readonly head = new RequestHead();
  private draining = false;

  constructor(owner: H2Owner) {
    this.owner = owner;
    this.server = http2Module().createServer({
      settings: { maxConcurrentStreams: MAX_CONCURRENT_STREAMS, initialWindowSize: STREAM_WINDOW },
      maxSessionMemory: MAX_SESSION_MEMORY_MB,
    });
    this.server.on('session', (session: ServerHttp2Session) => this.onSession(session));
    this.server.on('stream', (stream: ServerHttp2Stream, _h: unknown, flags: number, raw: string[]) => this.onStream(stream, flags, raw));
    this.server.on('sessionError', onSessionError);
  }

  /** Open sessions (for tests and gauges). */
  get sessionCount(): number {
    return this.sessions.size;
  }

  /**
   * Serves `socket` as HTTP/2. `first`: the bytes already read from it (the preface and whatever
   * followed; empty after ALPN h2); `peer`: the verified mTLS peer, read once at the handshake, or null.
   */
  adopt(socket: net.Socket, first: Buffer, remoteAddress: string, peer: PeerIdentity | null): void {
    const info = new SessionInfo(remoteAddress, peer);
    socket.pause();
    if (first.length > 0) socket.unshift(first); // the session reads these before the socket's next bytes
    this.adopting = info;
    try {
      this.server.emit('connection', socket);
    } finally {
      this.adopting = null;
    }
    if (info.session === null) socket.destroy();
  }

  private onSession(session: ServerHttp2Session): void {
    const info = this.adopting;
    if (info === null) {
      session.destroy();
      return;
    }
    info.session = session;
    (session as InfoCarrier)[INFO] = info;
    this.sessions.add(info);
    session.on('error', onSessionError);
    session.on('close', () => this.sessions.delete(info));
    session.on('connect', onSessionConnect);
    if (this.owner.idleTimeoutS > 0) session.setTimeout(this.owner.idleTimeoutS * 1000, onSessionTimeout);
    if (this.draining) session.close();
  }

  private onStream(stream: ServerHttp2Stream, flags: number, raw: string[]): void {
    const info = (stream.session as InfoCarrier | undefined)?.[INFO];
    if (info === undefined) {
      stream.close(NGHTTP2_REFUSED_STREAM);
      return;
    }
    info.streams++;
    const sink = new H2Stream(stream, info);
    const head = this.head;
    const err = readH2Head(raw, (flags & NGHTTP2_FLAG_END_STREAM) !== 0, head);
    if (err !== null) {
      sink.noBody();
      const reply = errorReply(err, '');
      sink.reply(err.status, reply.headers, reply.body, true);
      this.owner.refused(err, reply.body.length);
      return;
    }
    let body: ClientBody | null = null;
    if (head.bodyKind !== NO_BODY) body = new ClientBody(sink);
    else sink.noBody();
    sink.trailersAccepted = hasTeTrailers(head.headers);
    sink.isHead = head.method === 'HEAD';
    try {
      sink.handler = this.owner.startExchange(sink, head, body);
    } finally {
      if (body !== null) sink.readBody(body);
    }
  }

  /** Drain: every session gets GOAWAY; its streams finish, then it closes. New sessions are closed at once. */
  drain(): void {
    this.draining = true;
    for (const info of this.sessions) info.session?.close();
  }

  /** Close every session now (after the drain timeout). */
  close(): void {
    this.draining = true;
    for (const info of this.sessions) info.session?.destroy();
    this.sessions.clear();
  }
}

function hasTeTrailers(headers: string[]): boolean {
  for (let i = 0; i < headers.length; i += 2) {
    if (headers[i] === 'te') return (headers[i + 1] as string).includes('trailers');
  }
  return false;
}

function onSessionConnect(this: ServerHttp2Session): void {
  // the connection window (the stream window is a SETTINGS value)
  try {
    this.setLocalWindowSize(CONNECTION_WINDOW);
  } catch {
    // the session is already going away
  }
}

/**
 * Idle: no frame for the idle timeout and no stream open. This also ends sessions nghttp2 has
 * terminated itself (a malformed frame, rapid resets): it sends GOAWAY and stops reading, and
 * Node keeps the socket open until someone closes it.
 */
function onSessionTimeout(this: ServerHttp2Session): void {
  const info = (this as InfoCarrier)[INFO];
  if (info === undefined || info.streams > 0) return;
  if (this.closed) this.destroy();
  else this.close();
}

function onSessionError(err: Error): void {
  workerLog().debug({ err: err.message }, 'HTTP/2 client session error');
}
