// The time of the socket read being handled: the HTTP/1.1 listener's and codec's read callbacks
// read performance.now() once when they start (readStarted) and forget it when they return
// (readEnded); the timestamps taken meanwhile (a request's start, its first dispatch, the
// upstream's end, an upstream connection going idle) are that read's time. A proxied request took
// four clock reads (each ~40 ns on this VM's clock source, ~1% of the request's CPU) and takes two.
// What a timestamp means is unchanged to within the time the read's handling takes (a few µs: a
// request starts when the bytes that complete its head are read, as in Envoy's downstream timing).
// Outside a read callback (a timer, a filter's asynchronous answer, a TLS socket's 'data') now()
// reads the clock.

let at = 0;
let inRead = false;

/** A read callback starts: its time is now. */
export function readStarted(): void {
  at = performance.now();
  inRead = true;
}

/** The read callback returns (also when it throws: callers use finally). */
export function readEnded(): void {
  inRead = false;
}

/**
 * Work that may take long ran inside the read (a filter chain: a JWT's signature, a policy): the
 * read's time moves to now, so that what is stamped after it (the first dispatch, from which
 * upstream time counts) does not include that work.
 */
export function readTimeMoved(): void {
  if (inRead) at = performance.now();
}

/** performance.now(), or the time of the read being handled. */
export function now(): number {
  return inRead ? at : performance.now();
}
