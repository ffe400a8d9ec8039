// Starts the data-plane worker threads, restarts one that dies while the others keep serving,
// and drains them all on shutdown; pushes config generations, the identity (sidecar-identity.ts)
// and JWKS to them. How one worker thread is created: worker-thread.ts.
import type { Worker } from 'node:worker_threads';
import type { Snapshot } from '../config/snapshot.js';
import type { DataPlaneSettings, FromWorker, GaugesReport, ToWorker } from '../worker/protocol.js';
import type { Logger } from '../log.js';
import { OutlierSweeper } from '../upstream/shared/outlier-sweep.js';
import { UpstreamSlots } from '../upstream/shared/slots.js';
import type { WorkloadIdentity } from '../tls/identity/source.js';
import type { InboundTlsMode } from '../downstream/tls/acceptor.js';
import type { HandshakeCounts } from '../tls/handshake-stats.js';
import type { JwksUpdate } from '../filters/jwt/keys.js';
import { SidecarIdentity } from './sidecar-identity.js';
import { createWorker, dataPlaneSettings } from './worker-thread.js';

const RESPAWN_DELAY_MS = 100;

/** What the supervisor tells the stats side: rings to read, generations to resolve. */
export interface SupervisorHooks {
  snapshot(snapshot: Snapshot): void;
  ring(workerId: number, ring: SharedArrayBuffer, strings: SharedArrayBuffer): void;
  exited(workerId: number): void;
  gauges(workerId: number, report: GaugesReport): void;
}

export interface SupervisorOptions extends DataPlaneSettings {
  workers: number;
  /** the sidecar's workload identity at start (null/absent: none yet; see applyIdentity) */
  identity?: WorkloadIdentity | null;
}

/** One worker slot in /workers. */
export interface WorkerStatus {
  slot: number;
  workerId: number | null;
  ready: boolean;
  restarts: number;
  generation: number;
  /** since the slot's worker started (once-a-second report) */
  tlsHandshakes: { inbound: { full: number; resumed: number; failed: number }; outbound: { full: number; resumed: number } };
  /** its V8 heap in MB, as last reported (once a second) */
  heapMb: { used: number; committed: number };
  /** HTTP/1.1 connections lingering after their last reply, as last reported */
  lingering: number;
}

interface Slot {
  id: number;
  worker: Worker | null;
  ready: boolean;
  restarts: number;
  /** generation this slot's worker last acknowledged */
  generation: number;
  /** its TLS handshakes, as last reported (once a second) */
  handshakes: HandshakeCounts;
  /** its V8 heap [used, committed] bytes, as last reported */
  heap: [number, number];
  lingering: number;
}

const APPLY_TIMEOUT_MS = 10_000;

function toMb(bytes: number): number {
  return Math.round(bytes / 10485.76) / 100;
}

export class Supervisor {
  private readonly options: SupervisorOptions;
  private readonly log: Logger;
  private snapshot: Snapshot;
  private readonly slots: Slot[] = [];
  private stopping = false;
  private nextWorkerId = 0;
  /** waiters for every live worker to acknowledge a generation */
  private ackWaiters: (() => void)[] = [];
  private readonly quietSlots = new Set<number>();
  private quietWaiters: (() => void)[] = [];

  private readonly hooks: SupervisorHooks;
  /** sidecar-wide upstream state (connectionPool limits, outlier ejection) and its slots */
  readonly upstream = new UpstreamSlots();
  private readonly sweeper = new OutlierSweeper(this.upstream.state);
  private readonly identity: SidecarIdentity;
  /** the latest JWKS per uri, for workers started later */
  private readonly jwks = new Map<string, JwksUpdate>();

  constructor(snapshot: Snapshot, options: SupervisorOptions, log: Logger, hooks: SupervisorHooks) {
    this.upstream.assign(snapshot);
    this.sweeper.update(snapshot);
    this.snapshot = snapshot;
    this.identity = new SidecarIdentity(options.identity ?? null, log);
    this.options = options;
    this.log = log;
    this.hooks = hooks;
    hooks.snapshot(snapshot);
  }

  /**
   * Resolves when every worker serves; rejects when one cannot start. Each worker opens its own
   * socket on every listener port and terminates mTLS itself where the plan says so.
   */
  async start(): Promise<void> {
    this.identity.planInbound(this.snapshot);
    const started: Promise<void>[] = [];
    for (let i = 0; i < this.options.workers; i++) {
      const slot: Slot = { id: i, worker: null, ready: false, restarts: 0, generation: 0, handshakes: [0, 0, 0, 0, 0], heap: [0, 0], lingering: 0 };
      this.slots.push(slot);
      started.push(this.spawn(slot));
    }
    await Promise.all(started);
  }

  get allReady(): boolean {
    return !this.stopping && this.slots.length > 0 && this.slots.every((s) => s.ready);
  }

  /** whether the sidecar has a workload identity (mTLS possible) */
  get hasIdentity(): boolean {
    return this.identity.current !== null;
  }

  /** The listeners whose workers terminate mTLS, for the ready line. */
  get mtlsListeners(): { name: string; port: number; mode: InboundTlsMode }[] {
    return this.identity.mtlsListeners(this.snapshot);
  }

  /** The entry point for an IdentitySource's 'update': see SidecarIdentity.apply. */
  applyIdentity(identity: WorkloadIdentity): Promise<void> {
    return this.identity.apply(identity, this.slots, APPLY_TIMEOUT_MS);
  }

  /** A jwksUri's keys (or a failed fetch) reach every worker, and workers started later. */
  applyJwks(update: JwksUpdate): void {
    this.jwks.set(update.uri, update);
    const msg: ToWorker = { type: 'jwks', update };
    for (const slot of this.slots) slot.worker?.postMessage(msg);
  }

  get workerCount(): number {
    return this.slots.length;
  }

  status(): WorkerStatus[] {
    return this.slots.map((s) => {
      const [inFull, inResumed, inFailed, outFull, outResumed] = s.handshakes;
      return {
        slot: s.id, workerId: s.worker?.threadId ?? null, ready: s.ready, restarts: s.restarts, generation: s.generation,
        tlsHandshakes: { inbound: { full: inFull, resumed: inResumed, failed: inFailed }, outbound: { full: outFull, resumed: outResumed } },
        heapMb: { used: toMb(s.heap[0]), committed: toMb(s.heap[1]) },
        lingering: s.lingering,
      };
    });
  }

  /**
   * Pushes a new generation to every worker and resolves once each live worker has acknowledged
   * it. A worker respawned meanwhile starts on it directly.
   */
  async apply(snapshot: Snapshot): Promise<void> {
    this.upstream.assign(snapshot); // slots first: workers build their clusters on them
    this.sweeper.update(snapshot);
    this.hooks.snapshot(snapshot); // before any worker can write records of it
    this.snapshot = snapshot;
    const msg: ToWorker = { type: 'snapshot', snapshot };
    for (const slot of this.slots) slot.worker?.postMessage(msg);
    const done = (): boolean => this.slots.every((s) => s.worker === null || !s.ready || s.generation >= snapshot.generation);
    const deadline = Date.now() + APPLY_TIMEOUT_MS;
    while (!done()) {
      if (Date.now() > deadline) throw new Error(`workers did not acknowledge generation ${snapshot.generation} within ${APPLY_TIMEOUT_MS} ms`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, APPLY_TIMEOUT_MS);
        this.ackWaiters.push(() => { clearTimeout(timer); resolve(); });
      });
    }
  }

  private notifyAcks(): void {
    const waiters = this.ackWaiters;
    this.ackWaiters = [];
    for (const w of waiters) w();
  }

  private spawn(slot: Slot): Promise<void> {
    const workerId = this.nextWorkerId++;
    const { current, inboundTls, ticketKeys } = this.identity;
    const worker = createWorker({
      ...dataPlaneSettings(this.options), workerId, snapshot: this.snapshot, upstreamState: this.upstream.state.buffer,
      identity: current, inboundTls, ticketKeys, jwks: [...this.jwks.values()],
    });
    slot.worker = worker;
    slot.ready = false;
    return new Promise<void>((resolve, reject) => {
      let settled = false;
      worker.on('message', (msg: FromWorker) => {
        if (msg.type === 'gauges') {
          slot.handshakes = msg.report.tls;
          slot.heap = msg.report.heap;
          slot.lingering = msg.report.lingering;
          this.hooks.gauges(workerId, msg.report);
        } else if (msg.type === 'ring') {
          this.hooks.ring(workerId, msg.ring, msg.strings);
        } else if (msg.type === 'applied') {
          slot.generation = msg.generation;
          this.notifyAcks();
        } else if (msg.type === 'ready') {
          slot.ready = true;
          slot.generation = msg.generation;
          this.notifyAcks();
          if (slot.restarts > 0) this.log.info({ slot: slot.id, workerId, restarts: slot.restarts }, 'worker respawned');
          else this.log.debug({ slot: slot.id, workerId, generation: msg.generation }, 'worker ready');
          if (!settled) { settled = true; resolve(); }
        } else if (msg.type === 'fatal') {
          this.log.error({ slot: slot.id, workerId }, msg.message);
          if (!settled) { settled = true; reject(new Error(msg.message)); }
        } else if (msg.type === 'identity-applied') {
          this.identity.answered(slot.id, msg.spiffeId, msg.refused);
        } else if (msg.type === 'quiet') {
          this.quietSlots.add(slot.id);
          if (this.allQuiet()) for (const w of this.quietWaiters.splice(0)) w();
        } else if (msg.type === 'crashed') {
          this.log.error({ slot: slot.id, workerId, err: msg.message }, 'worker crashed');
        } else if (msg.type === 'drained' && msg.inflight > 0) {
          this.log.warn({ slot: slot.id, workerId, inflight: msg.inflight }, 'drain timeout: requests still in flight were cut');
        }
      });
      worker.on('error', (err) => {
        this.log.error({ slot: slot.id, workerId, err: err.message }, 'worker failed');
        if (!settled) { settled = true; reject(err); }
      });
      worker.on('exit', (code) => {
        this.hooks.exited(workerId);
        if (slot.worker === worker) {
          slot.worker = null;
          slot.ready = false;
          slot.handshakes = [0, 0, 0, 0, 0]; // a respawned worker counts from 0
        }
        this.identity.workerExited(); // it need not answer any more
        if (this.stopping || !settled) return;
        slot.restarts++;
        this.log.error({ slot: slot.id, workerId, code, restarts: slot.restarts }, 'worker exited; respawning');
        setTimeout(() => {
          if (this.stopping) return;
          this.spawn(slot).catch((err: Error) => this.log.error({ slot: slot.id, err: err.message }, 'respawn failed'));
        }, RESPAWN_DELAY_MS * Math.min(slot.restarts, 50)).unref();
      });
    });
  }

  /**
   * Restart drill: make one worker crash (it throws, as a bug would) and go through its own crash
   * path, which closes its listeners and connections before the thread exits.
   */
  crash(slotId: number): boolean {
    const worker = this.slots[slotId]?.worker;
    if (worker === undefined || worker === null) return false;
    const msg: ToWorker = { type: 'crash' };
    worker.postMessage(msg);
    return true;
  }

  private allQuiet(): boolean {
    return this.slots.every((s) => s.worker === null || this.quietSlots.has(s.id));
  }

  /**
   * First step of a shutdown: readiness goes false, inbound listeners stop accepting, outbound keeps
   * serving. Resolves once every worker has been quiet (nothing in flight, no new request) for a
   * moment — the caller bounds the wait with the drain timeout.
   */
  drainInbound(): Promise<void> {
    this.stopping = true;
    const msg: ToWorker = { type: 'drain-inbound' };
    for (const slot of this.slots) slot.worker?.postMessage(msg);
    return new Promise((resolve) => {
      if (this.allQuiet()) resolve();
      else this.quietWaiters.push(resolve);
    });
  }

  /** Stop accepting everywhere, let in-flight requests finish (up to timeoutMs), then exit the workers. */
  async drain(timeoutMs: number): Promise<void> {
    this.stopping = true;
    const exits: Promise<unknown>[] = [];
    for (const slot of this.slots) {
      const worker = slot.worker;
      slot.ready = false;
      if (worker === null) continue;
      exits.push(new Promise((resolve) => {
        worker.once('exit', resolve);
        const msg: ToWorker = { type: 'drain', timeoutMs };
        worker.postMessage(msg);
      }));
    }
    await Promise.all(exits);
  }
}
