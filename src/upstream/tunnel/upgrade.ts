// The upstream side of a WebSocket upgrade request: a connection of its own (not a pooled one: it
// will leave HTTP), under the cluster's connectionPool (tcp.maxConnections holds a unit for the
// connection's lifetime, overflow answers 503 UO) and outlier detection. The request head goes out
// with `Connection: upgrade` and `Upgrade: websocket`; the response head is read by the h1 codec's
// parser. A 101 hands the socket (and any bytes after the head) to the owner, which relays it; any
// other response is an ordinary one, relayed to the client, after which the connection is closed.
import { performance } from 'node:perf_hooks';
import type net from 'node:net';
import {
  downstreamAborted, noHealthyUpstream, upstreamConnectionTermination, upstreamOverflow, upstreamProtocolError, upstreamResetMidResponse,
  type ProxyError,
} from '../../http/errors.js';
import type { AttemptOwner } from '../attempt/attempt.js';
import type { ClusterRuntime } from '../cluster.js';
import type { UpstreamController, UpstreamRequest } from '../codec.js';
import type { Endpoint } from '../endpoint.js';
import { buildHead, lastHeadError } from '../h1/request-writer.js';
import { ResponseParser, S_DONE, type ResponseSink } from '../h1/response-parser.js';
import { TunnelConnect, type ConnectWaiter } from './connect.js';
import { holdReads, readInto, type ReadingSocket, type ReadTarget } from '../../tcp/read-buffer.js';
import { meshPeerPrincipal } from '../../tls/outbound/client-tls.js';

export interface UpgradeOwner extends AttemptOwner {
  /** The upstream switched protocols: its 101 headers (raw), the socket, bytes after the head (null: none). */
  onAttemptUpgraded(raw: string[], socket: net.Socket, rest: Buffer | null): void;
}

const UPGRADE_SUFFIX = 'connection: upgrade\r\nupgrade: websocket\r\n\r\n';

export class UpgradeAttempt implements ConnectWaiter, ResponseSink, UpstreamController, ReadTarget {
  readonly signalsReadEnd = false;
  readonly headersValidated = true;
  /** the upstream's verified SPIFFE id over mTLS, null for plaintext (telemetry) */
  peerPrincipal: string | null = null;
  readonly cluster: ClusterRuntime;
  endpoint: Endpoint | null = null;
  /** performance.now() of the connect and of the response's end (0: not yet) */
  tStart = 0;
  tEnd = 0;
  failDetail: string | null = null;

  private readonly owner: UpgradeOwner;
  private readonly request: UpstreamRequest;
  private readonly hashKey: number;
  private readonly connectTimeoutMs: number;
  private readonly parser = new ResponseParser(this);
  private connecting: TunnelConnect | null = null;
  private socket: ReadingSocket | null = null;
  private admitted = false;
  /** the endpoint and admission unit went to the tunnel with the socket */
  private handedOff = false;
  private upgraded: string[] | null = null;
  private delivered = false;
  private done = false;
  private readonly onEnd = this.ended.bind(this);
  private readonly onClose = this.closed.bind(this);

  constructor(owner: UpgradeOwner, cluster: ClusterRuntime, request: UpstreamRequest, hashKey: number, connectTimeoutMs: number) {
    this.owner = owner;
    this.cluster = cluster;
    this.request = request;
    this.hashKey = hashKey;
    this.connectTimeoutMs = connectTimeoutMs;
  }

  start(): void {
    const cluster = this.cluster;
    const admission = cluster.admission;
    if (admission !== null) {
      if (!admission.tryConnection()) return this.owner.onAttemptError(upstreamOverflow(cluster.name));
      this.admitted = true;
    }
    const ep = cluster.pick(this.hashKey, null);
    if (ep === null) return this.owner.onAttemptError(noHealthyUpstream(cluster.name));
    this.endpoint = ep;
    ep.begin();
    this.tStart = performance.now();
    const pool = cluster.spec.pool;
    this.parser.reset(false, true);
    this.connecting = new TunnelConnect(ep, pool.connectTimeoutMs > 0 ? pool.connectTimeoutMs : this.connectTimeoutMs,
      pool.tcpKeepalive ?? null, this);
  }

  // ---- ConnectWaiter ----

  upstreamConnected(socket: ReadingSocket): void {
    this.connecting = null;
    if (this.done) {
      socket.destroy();
      return;
    }
    const ep = this.endpoint as Endpoint;
    const req = this.request;
    const head = buildHead(req.method, req.path, req.headers, ep.key);
    if (head === null) {
      socket.destroy();
      return this.owner.onAttemptError(upstreamProtocolError(lastHeadError()));
    }
    this.socket = socket;
    this.peerPrincipal = meshPeerPrincipal(socket);
    readInto(socket, this);
    socket.on('end', this.onEnd);
    socket.on('close', this.onClose);
    socket.on('error', ignore);
    socket.write(head + UPGRADE_SUFFIX, 'latin1');
  }

  upstreamConnectFailed(err: ProxyError): void {
    this.connecting = null;
    if (this.done) return;
    this.failDetail = err.detail;
    const ep = this.endpoint;
    if (this.cluster.outlier !== null && ep !== null) this.cluster.outlier.onLocalFailure(ep);
    this.owner.onAttemptError(err);
  }

  // ---- the response ----

  /** ReadTarget: the upstream's bytes (each chunk the reader's own). */
  fromUpstream(chunk: Buffer): void {
    this.read(chunk);
  }

  /** ReadTarget: (the socket is an upstream one: never called) */
  fromDown(): void {}

  private read(chunk: Buffer): void {
    if (this.done) return;
    const used = this.parser.feed(chunk);
    if (used < 0) return this.fail(upstreamProtocolError(this.parser.error));
    const raw = this.upgraded;
    if (raw !== null) {
      const socket = this.socket as net.Socket;
      this.detach();
      this.handedOff = true;
      this.tEnd = performance.now();
      return this.owner.onAttemptUpgraded(raw, socket, used < chunk.length ? chunk.subarray(used) : null);
    }
    if (this.parser.state === S_DONE) this.complete();
  }

  onResponseHead(status: number, headers: string[]): boolean {
    const ep = this.endpoint as Endpoint;
    if (this.cluster.outlier !== null) this.cluster.outlier.onStatus(ep, status === 101 ? 200 : status);
    if (status === 101) {
      this.upgraded = headers;
      return false;
    }
    this.delivered = true;
    this.owner.onAttemptHeaders(status, headers, this);
    return !this.done;
  }

  onResponseBody(chunk: Buffer): boolean {
    this.owner.onAttemptData(chunk);
    return !this.done;
  }

  private complete(): void {
    this.tEnd = performance.now();
    this.detach();
    this.socket?.destroy(); // not reused: it was asked to upgrade
    this.owner.onAttemptEnd();
  }

  private ended(): void {
    if (this.done || this.upgraded !== null) return;
    if (this.parser.finish()) return this.complete();
    this.fail(this.delivered ? upstreamResetMidResponse(this.parser.error) : upstreamConnectionTermination(this.parser.error, false));
  }

  private closed(): void {
    if (this.done || this.upgraded !== null) return;
    this.fail(this.delivered ? upstreamResetMidResponse('connection closed') : upstreamConnectionTermination('connection closed', false));
  }

  private fail(err: ProxyError): void {
    this.tEnd = performance.now();
    this.failDetail = err.detail === '' ? err.message : err.detail;
    this.detach();
    this.socket?.destroy();
    this.owner.onAttemptError(err);
  }

  private detach(): void {
    const s = this.socket;
    if (s === null) return;
    holdReads(s); // what comes next waits for the relay (after a 101), or is dropped with the socket
    s.off('end', this.onEnd);
    s.off('close', this.onClose);
  }

  // ---- UpstreamController (a non-101 response) ----

  pause(): void {
    this.socket?.pause();
  }

  resume(): void {
    this.socket?.resume();
  }

  abort(_reason: Error): void {
    if (this.done) return;
    this.done = true;
    this.connecting?.cancel();
    this.connecting = null;
    if (!this.handedOff) {
      this.detach();
      this.socket?.destroy();
    }
  }

  describe(): string {
    return `upgrade attempt delivered=${this.delivered} upgraded=${this.upgraded !== null} socket=${this.socket === null ? 'none' : `${this.socket.bytesRead} in`}`;
  }

  // ---- the end ----

  /** The tunnel takes the endpoint's in-flight count and the admission unit with the socket. */
  handOff(): { endpoint: Endpoint; admitted: boolean } {
    return { endpoint: this.endpoint as Endpoint, admitted: this.admitted };
  }

  /** Exactly once, when the request ends: what the tunnel did not take is given back. */
  release(): void {
    if (!this.done) this.abort(downstreamAborted());
    if (this.handedOff) return;
    this.handedOff = true;
    this.endpoint?.end();
    if (this.admitted) this.cluster.admission?.release();
  }
}

function ignore(): void {}
