// The client's request body as a Readable for the upstream codec, with backpressure: when the
// upstream side is not reading, uWS stops reading the client socket (res.pause) until it does.
import { Readable } from 'node:stream';
import type { HttpResponse } from '../uws.js';
import { noteBodyBytes } from './body-memory.js';

export class ClientBody extends Readable {
  private readonly res: HttpResponse;
  private paused = false;
  /** false once the response is finished or aborted: `res` must not be touched after that */
  live = true;
  received = 0;

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
      if (!this.push(chunk) && !isLast) {
        this.paused = true;
        this.res.pause();
      }
    }
    if (isLast) this.push(null);
  }

  override _read(): void {
    if (this.paused) {
      this.paused = false;
      if (this.live) this.res.resume();
    }
  }
}
