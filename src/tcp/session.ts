// One connection on a TCP or TLS listener, proxied byte for byte:
//   1. where to: inbound, AuthorizationPolicy (as it applies to TCP: filters/authz/tcp.ts) and the
//      local app's cluster; outbound, the listener's first route (TCP) or the route of the
//      ClientHello's SNI (TLS), and a destination by weight;
//   2. the cluster's connectionPool: tcp.maxConnections is a unit held for the connection's
//      lifetime (overflow closes it, UO), an endpoint by the cluster's balancer, a connection
//      under connectTimeout (plaintext or mesh mTLS), keepalive; a connect failure counts for
//      outlier detection (UF);
//   3. the relay (relay.ts) until both sides are done; idleTimeout and maxConnectionDuration;
//   4. records: opened, bytes every few seconds, closed (record.ts), and the access log line.
// Nothing is sent to a client that is refused: its connection is closed, as Envoy does.
import { performance } from 'node:perf_hooks';
import type net from 'node:net';
import type { UpgradedClient, UpgradeTarget } from '../downstream/exchange.js';
import { AuthzRequest } from '../filters/authz/attributes.js';
import type { AuthzResult } from '../filters/authz/evaluator.js';
import type { ProxyError } from '../http/errors.js';
import { workerLog } from '../log.js';
import { FLAG_DC, FLAG_IE, FLAG_NC, FLAG_NR, FLAG_RBAC, FLAG_UH, FLAG_UO } from '../stats/flags.js';
import { CONN_TCP, KIND_CONN_CLOSE, KIND_CONN_OPEN } from '../stats/ring.js';
import type { ClusterRuntime } from '../upstream/cluster.js';
import type { Endpoint } from '../upstream/endpoint.js';
import { hash32 } from '../upstream/hash/hash32.js';
import { TunnelConnect, type ConnectWaiter } from '../upstream/tunnel/connect.js';
import type { Generation } from '../worker/generation.js';
import type { ListenerRuntime } from '../worker/worker-state.js';
import { meshPeerPrincipal } from '../tls/outbound/client-tls.js';
import { ConnectionLimits } from './limits.js';
import { connectionPeer, logConnection, recordConnection, type ConnectionLogSource } from './record.js';
import { Relay, type RelayOwner } from './relay.js';

export interface SessionOwner {
  /** default connect timeout when the cluster sets none (--connect-timeout) */
  readonly connectTimeoutMs: number;
  sessionEnded(s: TcpSession): void;
}

// one attribute object and result per worker: the check is synchronous
const ATTRS = new AuthzRequest();
const RESULT: AuthzResult = { allowed: true, policy: null, audit: null };

export class TcpSession implements ConnectWaiter, RelayOwner, ConnectionLogSource, UpgradeTarget {
  readonly listener: ListenerRuntime;
  readonly gen: Generation;
  readonly protocol = CONN_TCP;
  readonly t0 = performance.now();
  readonly sourceIp: string;
  readonly peerPrincipal: string | null;
  /** the ClientHello's server name (TLS listeners), else '' */
  readonly serverName: string;
  cluster: ClusterRuntime | null = null;
  routeName: string | null = null;
  upstreamHost: string | null = null;
  /** the far end's stats id (record.ts connectionPeer), set once the connection is established or refused */
  statsPeer = -1;
  failDetail: string | null = null;

  private readonly owner: SessionOwner;
  private readonly down: net.Socket;
  /** bytes already read from the client (a ClientHello, a PERMISSIVE port's first bytes) */
  private first: Buffer | null;
  private connecting: TunnelConnect | null = null;
  private relay: Relay | null = null;
  private ep: Endpoint | null = null;
  private admitted = false;
  private flags = 0;
  private opened = false;
  private done = false;
  private limits: ConnectionLimits | null = null;
  private readonly onEarlyClose: () => void;
  /** a sniffed HTTP-listener connection that is not HTTP: it reads the socket and hands the bytes over (relayTo) */
  private readonly client: UpgradedClient | null;

  /**
   * `peerPrincipal`: the mTLS peer's SPIFFE id (null: plaintext, or none in its certificate);
   * `client`: the socket is read by the HTTP listener, which passes its bytes on once the relay exists.
   */
  constructor(owner: SessionOwner, listener: ListenerRuntime, down: net.Socket, first: Buffer | null, serverName: string, peerPrincipal: string | null,
    client: UpgradedClient | null = null) {
    this.owner = owner;
    this.listener = listener;
    this.gen = listener.state.gen;
    this.down = down;
    this.first = first;
    this.serverName = serverName;
    this.peerPrincipal = peerPrincipal;
    this.client = client;
    this.sourceIp = down.remoteAddress ?? '';
    this.onEarlyClose = this.downClosedEarly.bind(this);
  }

  start(): void {
    const state = this.listener.state;
    state.inflight++;
    state.lastStart = this.t0;
    this.down.on('error', ignore);
    this.down.once('close', this.onEarlyClose);
    try {
      this.route();
    } catch (err) {
      workerLog().error({ err: (err as Error).stack ?? String(err) }, 'internal error proxying a TCP connection');
      this.refuse(FLAG_IE);
    }
  }

  // ---- 1. where to ----

  private route(): void {
    const gen = this.gen;
    const l = this.listener;
    let cluster: ClusterRuntime | null;
    if (l.inbound) {
      if (!this.authorized()) return this.refuse(FLAG_RBAC);
      cluster = gen.cluster(gen.snapshot.listeners[l.index]?.inboundClusterId ?? -1);
    } else {
      const table = gen.tcpRoutes[l.index] ?? null;
      const route = table === null ? null : l.spec.traffic === 'tls' ? table.bySni(this.serverName) : table.first();
      if (route === null) return this.refuse(FLAG_NR);
      this.routeName = route.name;
      const dest = route.pickDestination();
      cluster = dest.cluster;
      if (cluster === null) this.failDetail = dest.unresolved;
    }
    if (cluster === null) return this.refuse(FLAG_NC);
    this.cluster = cluster;
    this.connect(cluster);
  }

  /** AuthorizationPolicy for this connection: the peer's identity and address, the port. */
  private authorized(): boolean {
    const authz = this.gen.tcpAuthz;
    if (authz === null) return true;
    const a = ATTRS;
    a.method = '';
    a.path = '';
    a.host = '';
    a.port = this.listener.spec.port;
    a.principal = this.peerPrincipal;
    a.sourceIp = this.sourceIp;
    authz.evaluate(a, RESULT);
    if (!RESULT.allowed) this.failDetail = `denied by ${RESULT.policy ?? 'no matching ALLOW policy'}`;
    return RESULT.allowed;
  }

  // ---- 2. the upstream connection ----

  private connect(cluster: ClusterRuntime): void {
    const admission = cluster.admission;
    if (admission !== null) {
      if (!admission.tryConnection()) return this.refuse(FLAG_UO);
      this.admitted = true;
    }
    const hash = cluster.hash;
    const ep = cluster.pick(hash !== null && hash.key === 'sourceIp' ? hash32(this.sourceIp) : -1, null);
    if (ep === null) return this.refuse(FLAG_UH);
    this.ep = ep;
    ep.begin();
    this.upstreamHost = ep.key;
    const pool = cluster.spec.pool;
    this.limits = new ConnectionLimits(pool);
    this.connecting = new TunnelConnect(ep, pool.connectTimeoutMs > 0 ? pool.connectTimeoutMs : this.owner.connectTimeoutMs,
      pool.tcpKeepalive ?? null, this);
  }

  upstreamConnected(socket: net.Socket): void {
    this.connecting = null;
    if (this.done) {
      socket.destroy();
      return;
    }
    const cluster = this.cluster as ClusterRuntime;
    if (cluster.outlier !== null) cluster.outlier.onStatus(this.ep as Endpoint, 200);
    this.statsPeer = connectionPeer(this.listener, this.ep, this.listener.inbound ? this.peerPrincipal : meshPeerPrincipal(socket));
    this.opened = true;
    recordConnection(this, KIND_CONN_OPEN, 0, 0, 0);
    this.down.off('close', this.onEarlyClose);
    const first = this.first;
    this.first = null;
    this.relay = new Relay(this.down, socket, this, this.client === null);
    this.client?.relayTo(this);
    this.relay.start(first, null);
  }

  upstreamConnectFailed(err: ProxyError): void {
    this.connecting = null;
    if (this.done) return;
    this.failDetail = err.detail;
    const cluster = this.cluster as ClusterRuntime;
    if (cluster.outlier !== null) cluster.outlier.onLocalFailure(this.ep as Endpoint);
    this.refuse(err.flag);
  }

  // ---- 3. while it lasts ----

  /** Once a second (the listener's sweep): idle and lifetime limits, and the periodic bytes record. */
  sweep(now: number): void {
    const relay = this.relay;
    if (relay === null || this.done) return;
    if (!(this.limits as ConnectionLimits).check(now, relay, this)) relay.destroy();
  }

  relayEnded(): void {
    this.finish();
  }

  /** UpgradeTarget (a sniffed connection): the HTTP listener's reads of the client. */
  fromDown(chunk: Buffer): void {
    this.relay?.fromDown(chunk);
  }

  /** UpgradeTarget: the HTTP listener closes (drain timeout, shutdown). */
  goAway(): void {
    this.abort();
  }

  /** The client left before the upstream connection was made. */
  private downClosedEarly(): void {
    if (this.done) return;
    this.flags |= FLAG_DC;
    this.connecting?.cancel();
    this.connecting = null;
    this.finish();
  }

  /** Drain or shutdown: closes now. */
  abort(): void {
    if (this.relay !== null) return this.relay.destroy();
    this.connecting?.cancel();
    this.connecting = null;
    this.down.destroy();
    this.finish();
  }

  // ---- 4. the end ----

  /** The connection cannot be proxied: it is closed, with `flags` on its records. */
  private refuse(flags: number): void {
    this.flags |= flags;
    this.down.destroy();
    this.finish();
  }

  private finish(): void {
    if (this.done) return;
    this.done = true;
    const relay = this.relay;
    const bytesIn = relay === null ? 0 : relay.bytesIn;
    const bytesOut = relay === null ? 0 : relay.bytesOut;
    if (!this.opened) {
      this.statsPeer = connectionPeer(this.listener, this.ep, this.listener.inbound ? this.peerPrincipal : null);
      recordConnection(this, KIND_CONN_OPEN, this.flags, 0, 0);
    }
    const limits = this.limits;
    recordConnection(this, KIND_CONN_CLOSE, this.flags, bytesIn - (limits?.reportedIn ?? 0), bytesOut - (limits?.reportedOut ?? 0));
    logConnection(this, this.flags, bytesIn, bytesOut);
    this.ep?.end();
    if (this.admitted) (this.cluster as ClusterRuntime).admission?.release();
    this.listener.state.requestDone();
    this.owner.sessionEnded(this);
  }
}

function ignore(): void {}
