// The client's request body as a Readable for the upstream codec, with backpressure: when the
// upstream side is not reading, the downstream adapter stops reading the client socket until it does.
import { Readable } from 'node:stream';

/** Bodies up to this size are kept so a retry can send them again (Envoy's buffer limit idea). */
export const REPLAY_LIMIT = 64 * 1024;

/** The downstream connection's read side: paused while the body's consumer lags. */
export interface BodyFlow {
  pauseBody(): void;
  resumeBody(): void;
}

export class ClientBody extends Readable {
  /** the chunks received so far while they fit REPLAY_LIMIT; null once the body outgrew it */
  private replay: Buffer[] | null = [];
  private complete = false;
  private readonly flow: BodyFlow;
  private paused = false;
  /** false once the response is finished or aborted: the connection's reading is no longer ours to pause */
  live = true;
  received = 0;
  /** told once when the last byte has arrived (mirrors wait for the whole body) */
  onComplete: { bodyComplete(): void } | null = null;
  /** a gRPC request's message counter (istio_request_messages_total), null otherwise */
  messages: { feed(chunk: Uint8Array): void } | null = null;

  constructor(flow: BodyFlow) {
    super({ highWaterMark: 64 * 1024 });
    this.flow = flow;
    // a body destroyed because the client went away or its framing broke: the request path has
    // already answered; the stream's 'error' must not become an uncaught exception in the worker
    this.on('error', ignoreError);
  }

  /** Body bytes from the connection (`chunk` is the body's own copy); `isLast` with the end. */
  accept(chunk: Buffer, isLast: boolean): void {
    if (chunk.length > 0) {
      this.received += chunk.length;
      if (this.messages !== null) this.messages.feed(chunk);
      if (this.replay !== null) {
        if (this.received <= REPLAY_LIMIT) this.replay.push(chunk);
        else this.replay = null;
      }
      // (after the response ended, nothing is paused: the rest is read and dropped)
      if (!this.push(chunk) && !isLast && this.live && !this.paused) {
        this.paused = true;
        this.flow.pauseBody();
      }
    }
    if (isLast) {
      this.complete = true;
      // An ended stream never calls _read again: a pause from this same read must be lifted
      // here, or the connection's next request is never read.
      if (this.paused) {
        this.paused = false;
        if (this.live) this.flow.resumeBody();
      }
      this.push(null);
      if (this.onComplete !== null) this.onComplete.bodyComplete();
    }
  }

  /** Flow-control state in one line, for the debug log when the client goes away mid-request. */
  describe(): string {
    return `client body received=${this.received} complete=${this.complete} paused=${this.paused} buffered=${this.readableLength} flowing=${this.readableFlowing}`;
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
      if (this.live) this.flow.resumeBody();
    }
  }
}

function ignoreError(): void {}
