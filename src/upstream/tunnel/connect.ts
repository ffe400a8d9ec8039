// One upstream connection outside the HTTP pools, for a proxied TCP connection or an upgraded
// WebSocket: plaintext, or mesh mTLS when the endpoint has it (ISTIO_MUTUAL or auto mTLS: the same
// client TLS as the h1 codec's, tls/outbound/client-tls.ts: the worker's identity, the server's
// SPIFFE id checked, the endpoint's session resumed, handshakes counted), under the cluster's
// connect timeout, with half-close allowed and the cluster's TCP keepalive. The socket reads into
// the worker's shared buffer (tcp/read-buffer.ts): its bytes wait until a readInto names their
// target. Exactly one of connected / connectFailed is called.
import type net from 'node:net';
import type { TcpKeepaliveSpec } from '../../config/snapshot.js';
import { upstreamConnectFailure, type ProxyError } from '../../http/errors.js';
import type { Endpoint } from '../endpoint.js';
import { setKeepalive } from '../../downstream/listen-socket.js';
import { connectReading, connectReadingTls, type ReadingSocket } from '../../tcp/read-buffer.js';

export interface ConnectWaiter {
  upstreamConnected(socket: ReadingSocket): void;
  upstreamConnectFailed(err: ProxyError): void;
}

/** Istio's default connectTimeout. */
export const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;

export class TunnelConnect {
  readonly socket: ReadingSocket;
  private readonly waiter: ConnectWaiter;
  private readonly keepalive: TcpKeepaliveSpec | null;
  private timer: NodeJS.Timeout | null;
  private settled = false;
  private readonly onError: (err: Error) => void;
  private readonly where: string;

  constructor(ep: Endpoint, timeoutMs: number, keepalive: TcpKeepaliveSpec | null, waiter: ConnectWaiter) {
    this.waiter = waiter;
    this.keepalive = keepalive;
    this.where = ep.key;
    const { address, port } = ep.spec;
    const t = ep.tls;
    this.socket = t === null ? connectReading(address, port) : connectReadingTls(address, port, t);
    if (t !== null) this.socket.setNoDelay(true);
    this.socket.once(t === null ? 'connect' : 'secureConnect', this.onConnect.bind(this));
    this.onError = this.failed.bind(this);
    this.socket.on('error', this.onError);
    this.timer = setTimeout(onConnectTimeout, timeoutMs > 0 ? timeoutMs : DEFAULT_CONNECT_TIMEOUT_MS, this);
  }

  private onConnect(): void {
    if (this.settled) return;
    this.settled = true;
    this.clearTimer();
    this.socket.off('error', this.onError);
    const ka = this.keepalive;
    if (ka !== null) setKeepalive(this.socket, ka);
    this.waiter.upstreamConnected(this.socket);
  }

  private failed(err: Error & { code?: string }): void {
    if (this.settled) return;
    this.settled = true;
    this.clearTimer();
    this.socket.destroy();
    const code = err.code ?? '';
    const local = code === 'EADDRNOTAVAIL' || code === 'EMFILE' || code === 'ENFILE';
    this.waiter.upstreamConnectFailed(upstreamConnectFailure(local ? 'local connection failure' : 'remote connection failure',
      `${this.where}: ${err.message}`, code));
  }

  timedOut(): void {
    this.timer = null;
    if (this.settled) return;
    this.settled = true;
    this.socket.destroy();
    this.waiter.upstreamConnectFailed(upstreamConnectFailure('connection timeout', `${this.where}: connect timeout`, 'ETIMEDOUT'));
  }

  /** The downstream went away while connecting. */
  cancel(): void {
    if (this.settled) return;
    this.settled = true;
    this.clearTimer();
    this.socket.destroy();
  }

  private clearTimer(): void {
    if (this.timer !== null) {
      clearTimeout(this.timer);
      this.timer = null;
    }
  }
}

function onConnectTimeout(c: TunnelConnect): void {
  c.timedOut();
}
