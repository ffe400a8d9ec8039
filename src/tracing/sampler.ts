// The sampling decision for traces that arrive without one: a fixed share of trace ids, decided
// from the id's low 32 bits so that every sidecar with the same rate decides the same trace alike.
import { hexDigit } from './ids.js';

const TWO_32 = 4294967296;

export class RatioSampler {
  /** trace ids whose low 32 bits are below this are sampled */
  private readonly threshold: number;
  readonly percent: number;

  constructor(percent: number) {
    if (!(percent >= 0 && percent <= 100)) throw new RangeError(`sampling percentage must be 0..100, got ${percent}`);
    this.percent = percent;
    this.threshold = percent >= 100 ? TWO_32 : Math.floor((percent / 100) * TWO_32);
  }

  /** `traceId`: 16 or 32 hex characters (already validated or freshly generated). */
  sampled(traceId: string): boolean {
    if (this.threshold === 0) return false;
    if (this.threshold === TWO_32) return true;
    let v = 0;
    for (let i = traceId.length - 8; i < traceId.length; i++) v = v * 16 + hexDigit(traceId.charCodeAt(i));
    return v < this.threshold;
  }
}
