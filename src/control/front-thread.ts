// The control thread's handle on the TLS front thread (workers/tls-front.js): starts it, passes
// identity rotations, stops it in the shutdown order, and respawns it if it dies (its open
// connections are lost; the peer table is reset by the new front).
import { Worker } from 'node:worker_threads';
import type { FromFront, FrontOptions, ToFront } from '../tls/inbound/front-protocol.js';
import type { WorkloadIdentity } from '../tls/identity/source.js';
import type { Logger } from '../log.js';

const FRONT_URL = new URL('../../workers/tls-front.js', import.meta.url);
const RESPAWN_DELAY_MS = 100;

export class FrontThread {
  private options: FrontOptions;
  private readonly log: Logger;
  private worker: Worker | null = null;
  private stopping = false;
  private rotationWaiters: ((refused: string | null) => void)[] = [];
  ready = false;
  restarts = 0;

  constructor(options: FrontOptions, log: Logger) {
    this.options = options;
    this.log = log;
  }

  /** Resolves once every fronted port is listening; rejects when one cannot be opened. */
  start(): Promise<void> {
    const worker = new Worker(FRONT_URL, { workerData: this.options });
    this.worker = worker;
    this.ready = false;
    return new Promise((resolve, reject) => {
      let settled = false;
      worker.on('message', (msg: FromFront) => {
        if (msg.type === 'ready') {
          this.ready = true;
          if (this.restarts > 0) this.log.info({ restarts: this.restarts }, 'TLS front respawned');
          if (!settled) { settled = true; resolve(); }
        } else if (msg.type === 'fatal') {
          this.log.error(msg.message);
          if (!settled) { settled = true; reject(new Error(msg.message)); }
        } else if (msg.type === 'rotated') {
          this.log.info({ spiffeId: msg.spiffeId, notAfter: msg.notAfter }, 'identity rotated');
          for (const w of this.rotationWaiters.splice(0)) w(null);
        } else if (msg.type === 'identity-refused') {
          for (const w of this.rotationWaiters.splice(0)) w(msg.message);
        }
      });
      worker.on('error', (err) => {
        this.log.error({ err: err.message }, 'TLS front failed');
        if (!settled) { settled = true; reject(err); }
      });
      worker.on('exit', (code) => {
        if (this.worker === worker) { this.worker = null; this.ready = false; }
        for (const w of this.rotationWaiters.splice(0)) w(null); // a respawned front starts with this.options.identity
        if (this.stopping || !settled) return;
        this.restarts++;
        this.log.error({ code, restarts: this.restarts }, 'TLS front exited; respawning');
        setTimeout(() => {
          if (!this.stopping) this.start().catch((err: Error) => this.log.error({ err: err.message }, 'TLS front respawn failed'));
        }, RESPAWN_DELAY_MS * Math.min(this.restarts, 50)).unref();
      });
    });
  }

  /** New handshakes use `identity`; resolves once the front has switched (or is not running), rejects when it refused the PEMs. */
  applyIdentity(identity: WorkloadIdentity): Promise<void> {
    const previous = this.options;
    this.options = { ...this.options, identity };
    const worker = this.worker;
    if (worker === null) return Promise.resolve();
    return new Promise((resolve, reject) => {
      this.rotationWaiters.push((refused) => {
        if (refused === null) return resolve();
        this.options = previous;
        reject(new Error(`TLS front refused the identity: ${refused}`));
      });
      this.post({ type: 'identity', identity });
    });
  }

  stopAccepting(): void {
    this.stopping = true;
    this.post({ type: 'stop-accepting' });
  }

  /** Closes every forwarded connection; resolves when the thread has exited. */
  async stop(): Promise<void> {
    this.stopping = true;
    const worker = this.worker;
    if (worker === null) return;
    const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
    this.post({ type: 'stop' });
    await exited;
  }

  private post(msg: ToFront): void {
    this.worker?.postMessage(msg);
  }
}
