// The FIFO in which an upstream pool's exchanges wait for a connection (h1) or a stream (h2): an
// array with a moving head (no shift), aborted entries left in place and skipped when they come up,
// a live count, and expiry by waiting time. Nothing is allocated per entry; a queue that never
// empties (a saturated pool) is sliced once most of its array is taken entries.

/** An exchange that can wait: `queued` is true while it waits, `queuedAt` is when it started. */
export interface Waiter {
  queued: boolean;
  queuedAt: number;
}

/** taken entries at the front before the array is sliced (when they are also most of it) */
const COMPACT_AFTER = 1024;

export class WaitQueue<T extends Waiter> {
  private items: (T | undefined)[] = [];
  private head = 0;
  /** waiting entries (aborted and taken ones excluded) */
  live = 0;

  push(ex: T, now: number): void {
    ex.queued = true;
    ex.queuedAt = now;
    this.items.push(ex);
    this.live++;
  }

  /** `ex` stops waiting (aborted): it is skipped when it comes up. False if it was not waiting. */
  remove(ex: T): boolean {
    if (!ex.queued) return false;
    ex.queued = false;
    this.live--;
    return true;
  }

  /** The oldest waiting entry, taken out of the queue (queued = false), or null. */
  shift(): T | null {
    const q = this.items;
    while (this.head < q.length) {
      const ex = q[this.head] as T;
      q[this.head] = undefined;
      this.head++;
      if (!ex.queued) continue; // aborted while waiting
      ex.queued = false;
      this.live--;
      if (this.head === q.length || this.head > COMPACT_AFTER) this.compact();
      return ex;
    }
    this.compact();
    return null;
  }

  /** Takes every waiting entry out, oldest first. */
  drain(): T[] {
    const all: T[] = [];
    for (let ex = this.shift(); ex !== null; ex = this.shift()) all.push(ex);
    return all;
  }

  /**
   * Takes out the entries that have waited `timeoutMs` or more, sparing the oldest `spared` waiting
   * ones. The queue is in arrival order, so the scan stops at the first entry still within its time.
   */
  expire(now: number, timeoutMs: number, spared: number): T[] {
    const q = this.items;
    const expired: T[] = [];
    for (let i = this.head; i < q.length; i++) {
      const ex = q[i];
      if (ex === undefined || !ex.queued) continue;
      if (spared > 0) {
        spared--;
        continue;
      }
      if (now - ex.queuedAt < timeoutMs) break;
      ex.queued = false; // shift() skips it
      this.live--;
      expired.push(ex);
    }
    return expired;
  }

  private compact(): void {
    if (this.head === this.items.length) {
      // (an empty queue is left as it is: setting an array's length is a runtime call even when it does not change)
      if (this.head !== 0) this.items.length = 0;
      this.head = 0;
    } else if (this.head > COMPACT_AFTER && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
  }
}
