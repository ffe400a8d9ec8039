// An upgraded WebSocket connection after the 101: the client's connection and the upstream one
// relayed byte for byte (messages, fragments, ping/pong and close frames pass through untouched;
// backpressure and half-close as for TCP, src/tcp/relay.ts), frame boundaries followed both ways so
// that a drain can end it with Close 1001 (going away) on each side. It is its own connection: a
// config reload leaves it alone, the route timeout no longer applies; the destination cluster's
// connectionPool.tcp idleTimeout (default 1 h) and maxConnectionDuration do. Its records are
// connection records with protocol websocket (istio_tcp_*), the 101 itself was the request's.
import type net from 'node:net';
import type { UpgradedClient, UpgradeTarget } from '../downstream/exchange.js';
import { CONN_WEBSOCKET, KIND_CONN_CLOSE, KIND_CONN_OPEN } from '../stats/ring.js';
import { ConnectionLimits } from '../tcp/limits.js';
import { recordConnection, type ConnectionSource } from '../tcp/record.js';
import { Relay, type RelayOwner } from '../tcp/relay.js';
import type { ClusterRuntime } from '../upstream/cluster.js';
import type { Endpoint } from '../upstream/endpoint.js';
import type { Generation } from '../worker/generation.js';
import type { ListenerRuntime } from '../worker/worker-state.js';
import { CLOSE_GOING_AWAY_TO_CLIENT, closeGoingAwayToServer, FrameTracker } from './frames.js';

/** After its Close frames, a going-away connection gets this long to close before it is cut. */
const GO_AWAY_GRACE_MS = 1000;

/** The relay, following frames so that a Close can be sent between two of them. */
class WsRelay extends Relay {
  private readonly toUp = new FrameTracker();
  private readonly toDown = new FrameTracker();
  /** going away: the next frame boundary in that direction gets the Close */
  private closingUp = false;
  private closingDown = false;
  /** the Close was sent that way: nothing more goes there */
  private closedUp = false;
  private closedDown = false;
  private graceTimer: NodeJS.Timeout | null = null;

  override fromDown(chunk: Buffer): void {
    if (this.closedUp) return;
    if (!this.closingUp) {
      this.toUp.advance(chunk, false);
      return super.fromDown(chunk);
    }
    const at = this.toUp.advance(chunk, true);
    if (at > 0) super.fromDown(at === chunk.length ? chunk : chunk.subarray(0, at));
    if (this.toUp.atBoundary()) this.closeUp();
  }

  protected override fromUp(chunk: Buffer): void {
    if (this.closedDown) return;
    if (!this.closingDown) {
      this.toDown.advance(chunk, false);
      return super.fromUp(chunk);
    }
    const at = this.toDown.advance(chunk, true);
    if (at > 0) super.fromUp(at === chunk.length ? chunk : chunk.subarray(0, at));
    if (this.toDown.atBoundary()) this.closeDown();
  }

  goAway(): void {
    if (this.closingUp) return;
    this.closingUp = true;
    this.closingDown = true;
    if (this.toUp.atBoundary()) this.closeUp();
    if (this.toDown.atBoundary()) this.closeDown();
    this.graceTimer = setTimeout(destroyRelay, GO_AWAY_GRACE_MS, this);
  }

  private closeUp(): void {
    this.closedUp = true;
    if (!this.up.destroyed && !this.up.writableEnded) this.up.end(closeGoingAwayToServer());
  }

  private closeDown(): void {
    this.closedDown = true;
    if (!this.down.destroyed && !this.down.writableEnded) this.down.end(CLOSE_GOING_AWAY_TO_CLIENT);
  }

  clearGrace(): void {
    if (this.graceTimer !== null) clearTimeout(this.graceTimer);
  }
}

function destroyRelay(r: Relay): void {
  r.destroy();
}

export class WsTunnel implements UpgradeTarget, RelayOwner, ConnectionSource {
  readonly listener: ListenerRuntime;
  readonly gen: Generation;
  readonly cluster: ClusterRuntime;
  readonly protocol = CONN_WEBSOCKET;
  /** the far end's stats id: the upgrade request's (its metadata, identity or endpoint) */
  readonly statsPeer: number;
  private readonly relay: WsRelay;
  private readonly client: UpgradedClient;
  private readonly endpoint: Endpoint;
  private readonly admitted: boolean;
  private readonly limits: ConnectionLimits;
  private readonly rest: Buffer | null;
  private done = false;

  constructor(listener: ListenerRuntime, gen: Generation, cluster: ClusterRuntime, held: { endpoint: Endpoint; admitted: boolean },
    client: UpgradedClient, upstream: net.Socket, rest: Buffer | null, statsPeer: number) {
    this.listener = listener;
    this.statsPeer = statsPeer;
    this.gen = gen;
    this.cluster = cluster;
    this.endpoint = held.endpoint;
    this.admitted = held.admitted;
    this.client = client;
    this.rest = rest;
    this.limits = new ConnectionLimits(cluster.spec.pool);
    // the client's bytes come through fromDown(): the HTTP listener reads its socket
    this.relay = new WsRelay(client.socket, upstream, this, false);
  }

  start(): void {
    const state = this.listener.state;
    state.inflight++;
    recordConnection(this, KIND_CONN_OPEN, 0, 0, 0);
    this.client.relayTo(this);
    this.relay.start(this.client.early, this.rest);
  }

  fromDown(chunk: Buffer): void {
    this.relay.fromDown(chunk);
  }

  sweep(now: number): void {
    if (!this.done && !this.limits.check(now, this.relay, this)) this.relay.goAway();
  }

  /** Drain timeout or shutdown: Close 1001 both ways at the next frame boundaries, then the connections close. */
  goAway(): void {
    if (!this.done) this.relay.goAway();
  }

  relayEnded(): void {
    if (this.done) return;
    this.done = true;
    this.relay.clearGrace();
    const r = this.relay;
    recordConnection(this, KIND_CONN_CLOSE, 0, r.bytesIn - this.limits.reportedIn, r.bytesOut - this.limits.reportedOut);
    this.endpoint.end();
    if (this.admitted) this.cluster.admission?.release();
    this.listener.state.requestDone();
  }
}
