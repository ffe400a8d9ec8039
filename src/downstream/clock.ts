// A per-worker one-second clock for the HTTP/1.1 listener: the `date` header string (formatted
// once a second, not per response) and a tick count that connections stamp on each read, so idle
// and head timeouts are checked by one sweep instead of a timer per connection.

/** seconds since the clock started; connections compare ticks */
export let tick = 0;
/** the current time as an IMF-fixdate, for the `date` response header */
export let dateHeader = new Date().toUTCString();

const sweeps = new Set<() => void>();
let timer: NodeJS.Timeout | null = null;

function onSecond(): void {
  tick++;
  dateHeader = new Date().toUTCString();
  for (const sweep of sweeps) sweep();
}

/** Calls `sweep` once a second (after the tick advanced) until the returned function is called. */
export function everySecond(sweep: () => void): () => void {
  sweeps.add(sweep);
  if (timer === null) {
    dateHeader = new Date().toUTCString();
    timer = setInterval(onSecond, 1000);
    timer.unref();
  }
  return () => {
    sweeps.delete(sweep);
    if (sweeps.size === 0 && timer !== null) {
      clearInterval(timer);
      timer = null;
    }
  };
}
