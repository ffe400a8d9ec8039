// The client's request body as a Readable for the upstream codec, with backpressure: when the
// upstream side is not reading, uWS stops reading the client socket (res.pause) until it does.
import { Readable } from 'node:stream';
import type { HttpResponse } from '../uws.js';
import { noteBodyBytes } from './body-memory.js';

/** Bodies up to this size are kept so a retry can send them again (Envoy's buffer limit idea). */
export const REPLAY_LIMIT = 64 * 1024;

export class ClientBody extends Readable {
  /** the chunks received so far while they fit REPLAY_LIMIT; null once the body outgrew it */
  private replay: Buffer[] | null = [];
  private complete = false;
  private readonly res: HttpResponse;
  private paused = false;
  /** false once the response is finished or aborted: `res` must not be touched after that */
  live = true;
  received = 0;
  /** told once when the last byte has arrived (mirrors wait for the whole body) */
  onComplete: { bodyComplete(): void } | null = null;

  constructor(res: HttpResponse) {
    super({ highWaterMark: 64 * 1024 });
    this.res = res;
  }

  /** From uWS onData: the ArrayBuffer is neutered after the callback, so copy it. */
  accept(ab: ArrayBuffer, isLast: boolean): void {
    if (ab.byteLength > 0) {
      const chunk = Buffer.allocUnsafe(ab.byteLength);
      chunk.set(new Uint8Array(ab));
      this.received += chunk.length;
      noteBodyBytes(chunk.length);
      if (this.replay !== null) {
        if (this.received <= REPLAY_LIMIT) this.replay.push(chunk);
        else this.replay = null;
      }
      // (after the response ended, res is gone: nothing to pause, the rest is read and dropped)
      if (!this.push(chunk) && !isLast && this.live && !this.paused) {
        this.paused = true;
        this.res.pause();
      }
    }
    if (isLast) {
      this.complete = true;
      // An ended stream never calls _read again: a pause from this same read (uWS delivers every
      // chunk it has read, and a chunked body's end marker in a call of its own) must be lifted
      // here, or the connection's next request is never read and uWS times the client out.
      if (this.paused) {
        this.paused = false;
        if (this.live) this.res.resume();
      }
      this.push(null);
      if (this.onComplete !== null) this.onComplete.bodyComplete();
    }
  }

  /** Flow-control state in one line, for the debug log when the client goes away mid-request. */
  describe(): string {
    return `client body received=${this.received} complete=${this.complete} uwsPaused=${this.paused} buffered=${this.readableLength} flowing=${this.readableFlowing}`;
  }

  /** The whole body has arrived and was small enough to keep: a retry may send it again. */
  get replayable(): boolean {
    return this.complete && this.replay !== null;
  }

  /** A fresh stream of the kept body, for another try. */
  replayStream(): Readable {
    return Readable.from(this.replay ?? [], { objectMode: false });
  }

  override _read(): void {
    if (this.paused) {
      this.paused = false;
      if (this.live) this.res.resume();
    }
  }
}
