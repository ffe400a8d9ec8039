// Node's internal bindings that meshlet's socket fast paths use (tcp/write-latin1.ts,
// tcp/direct-read.ts): process.binding, deprecated as DEP0111 but documented only, and what Node's
// own net.js and stream_base_commons use for the same work. Each user checks what it gets and
// keeps net's ordinary path when a binding is missing or not as expected.

/** One of Node's internal bindings, or null where process.binding no longer lends it. */
export function binding(name: string): object | null {
  try {
    return (process as unknown as { binding(name: string): object }).binding(name);
  } catch {
    return null;
  }
}

/** The class of plaintext TCP handles (a socket's `_handle`), null when unavailable. */
export const TCP_HANDLE: unknown = (binding('tcp_wrap') as { TCP?: unknown } | null)?.TCP ?? null;
