// Retry budget (a meshlet extension, as in Linkerd): retries may add at most `ratio` of this
// worker's request rate, with a floor of `minPerSecond`, so a failing upstream cannot multiply the
// load on itself. Counted per one-second window; the previous window's requests set the allowance.

export class RetryBudget {
  private readonly ratio: number;
  private readonly minPerSecond: number;
  private windowStart = 0;
  private requests = 0;
  private lastWindowRequests = 0;
  private retries = 0;

  constructor(ratio = 0.2, minPerSecond = 10) {
    this.ratio = ratio;
    this.minPerSecond = minPerSecond;
  }

  private roll(now: number): void {
    if (now - this.windowStart < 1000) return;
    this.lastWindowRequests = now - this.windowStart < 2000 ? this.requests : 0;
    this.windowStart = now;
    this.requests = 0;
    this.retries = 0;
  }

  noteRequest(now: number): void {
    this.roll(now);
    this.requests++;
  }

  /** Takes one retry from the budget when there is one left. */
  tryRetry(now: number): boolean {
    this.roll(now);
    const allowed = Math.max(this.minPerSecond, this.ratio * Math.max(this.lastWindowRequests, this.requests));
    if (this.retries >= allowed) return false;
    this.retries++;
    return true;
  }
}
