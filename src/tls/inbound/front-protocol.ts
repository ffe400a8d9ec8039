// Messages between the control thread and the TLS front thread.
import type { WorkloadIdentity } from '../identity/source.js';

/** One public inbound port the front owns, and the internal port its connections go to. */
export interface FrontListenerSpec {
  name: string;
  bind: string;
  port: number;
  mode: 'PERMISSIVE' | 'STRICT';
  /** 127.0.0.1:internalPort, served by every data-plane worker (trusts the PROXY v2 header) */
  internalPort: number;
}

export interface FrontOptions {
  listeners: FrontListenerSpec[];
  /** the peer table (peer-table.ts); the front is its only writer */
  table: SharedArrayBuffer;
  /** null: no identity yet (STRICT refuses every handshake until one arrives) */
  identity: WorkloadIdentity | null;
  logLevel: string;
}

export type ToFront =
  /** rotation: new connections use it, open ones keep theirs */
  | { type: 'identity'; identity: WorkloadIdentity }
  /** shutdown, first step: stop accepting, keep forwarding open connections */
  | { type: 'stop-accepting' }
  /** shutdown, last step (after the workers drained): close everything and exit */
  | { type: 'stop' };

export type FromFront =
  | { type: 'ready' }
  | { type: 'fatal'; message: string }
  | { type: 'rotated'; spiffeId: string; notAfter: string }
  /** the identity's PEMs were unusable: the previous identity stays */
  | { type: 'identity-refused'; message: string };
