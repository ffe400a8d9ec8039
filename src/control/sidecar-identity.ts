// The sidecar's workload identity as the workers hold it: the identity and session-ticket keys each
// worker starts with, the listeners where workers terminate mTLS, and a rotation pushed to every
// live worker and awaited until each has answered.
import { randomBytes } from 'node:crypto';
import type { Worker } from 'node:worker_threads';
import { nodeTls } from '../tls/node-tls.js';
import type { Snapshot } from '../config/snapshot.js';
import type { ToWorker } from '../worker/protocol.js';
import type { Logger } from '../log.js';
import { inboundTlsModes } from '../tls/mtls-plan.js';
import type { WorkloadIdentity } from '../tls/identity/source.js';
import { serverContextOptions, TICKET_KEYS_BYTES } from '../tls/tls-settings.js';
import type { InboundTlsMode } from '../downstream/tls/acceptor.js';

/** A worker slot as a rotation sees it: null while it has no live worker. */
interface IdentitySlot {
  readonly id: number;
  readonly worker: Worker | null;
}

export class SidecarIdentity {
  /** the sidecar's workload identity (null: none yet; see apply) */
  current: WorkloadIdentity | null;
  /** per listener index: whether workers terminate mTLS there (fixed at start: listeners change only on restart) */
  inboundTls: (InboundTlsMode | null)[] = [];
  /** the sidecar's session-ticket keys: every worker gets them, new ones with each identity */
  ticketKeys = randomBytes(TICKET_KEYS_BYTES);
  private readonly log: Logger;
  /** waiters for every live worker to answer an identity message */
  private waiters: (() => void)[] = [];
  /** per slot: the SPIFFE id and refusal of its worker's last identity answer */
  private readonly answers = new Map<number, { spiffeId: string; refused: string | null }>();

  constructor(identity: WorkloadIdentity | null, log: Logger) {
    this.current = identity;
    this.log = log;
  }

  /** Where workers terminate mTLS, from the snapshot the workers start on. */
  planInbound(snapshot: Snapshot): void {
    this.inboundTls = inboundTlsModes(snapshot, this.current !== null);
  }

  /** The listeners whose workers terminate mTLS, for the ready line. */
  mtlsListeners(snapshot: Snapshot): { name: string; port: number; mode: InboundTlsMode }[] {
    return snapshot.listeners.flatMap((l, i) => {
      const mode = this.inboundTls[i] ?? null;
      return mode === null ? [] : [{ name: l.name, port: l.port, mode }];
    });
  }

  /**
   * The sidecar's identity changed (first one, or a rotation): the workers' new handshakes, inbound
   * and outbound, use it (with new session-ticket keys, so no session of the old identity resumes);
   * open connections keep theirs, so nothing is dropped. Resolves once every live worker of `slots`
   * has it in force (waiting up to timeoutMs); throws (nothing changed) when the PEMs are unusable.
   */
  async apply(identity: WorkloadIdentity, slots: readonly IdentitySlot[], timeoutMs: number): Promise<void> {
    // unusable PEMs are refused here, before any thread sees them (the running identity stays)
    nodeTls().createSecureContext(serverContextOptions(identity));
    this.current = identity;
    this.ticketKeys = randomBytes(TICKET_KEYS_BYTES);
    const msg: ToWorker = { type: 'identity', identity, ticketKeys: this.ticketKeys };
    this.answers.clear();
    const asked = slots.filter((s) => s.worker !== null);
    for (const slot of asked) slot.worker?.postMessage(msg);
    // a worker that exits meanwhile is respawned with this identity: it need not answer
    const answered = (): boolean => asked.every((s) => s.worker === null || this.answers.get(s.id)?.spiffeId === identity.spiffeId);
    const deadline = Date.now() + timeoutMs;
    while (!answered() && Date.now() < deadline) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, timeoutMs);
        this.waiters.push(() => { clearTimeout(timer); resolve(); });
      });
    }
    const refused = [...this.answers.values()].find((a) => a.refused !== null)?.refused;
    if (refused !== undefined && refused !== null) throw new Error(`a worker refused the identity: ${refused}`);
    if (!answered()) throw new Error(`workers did not take the new identity within ${timeoutMs} ms`);
    this.log.info({ spiffeId: identity.spiffeId, notAfter: identity.notAfter.toISOString() }, 'identity rotated');
  }

  /** A worker's answer to an identity message. */
  answered(slotId: number, spiffeId: string, refused: string | null): void {
    this.answers.set(slotId, { spiffeId, refused });
    this.wake();
  }

  /** A worker exited: it need not answer any more. */
  workerExited(): void {
    this.wake();
  }

  private wake(): void {
    for (const w of this.waiters.splice(0)) w();
  }
}
