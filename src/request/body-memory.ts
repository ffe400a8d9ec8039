// Keeps streamed bodies from inflating RSS. Each body chunk is a fresh external ArrayBuffer that
// becomes garbage as soon as it is written; V8 only collects on external-memory pressure after
// ~64 MB, so a 50 MB transfer would balloon RSS by that much. After every BODY_GC_BYTES of body
// traffic a young-generation collection (~1 ms with a small heap) frees those chunks, and every
// fourth time a full one (a few ms) frees the ones promoted while they waited for backpressure.
import v8 from 'node:v8';
import vm from 'node:vm';

const BODY_GC_BYTES = 4 * 1024 * 1024;
/** every this many minor collections, a full one: chunks that lived through two scavenges were promoted */
const MAJOR_EVERY = 4;
let minors = 0;

type GcFn = (options?: { type?: 'minor' | 'major'; execution?: 'sync' }) => void;

/** The global `gc` (control/supervisor.ts creates workers with it), else one made in a new context. */
function loadGc(): GcFn | null {
  const existing = (globalThis as { gc?: GcFn }).gc;
  if (typeof existing === 'function') return existing;
  try {
    v8.setFlagsFromString('--expose-gc');
    return vm.runInNewContext('gc') as GcFn;
  } catch {
    return null;
  }
}

const gc = loadGc();
let sinceGc = 0;

export function noteBodyBytes(n: number): void {
  sinceGc += n;
  if (sinceGc >= BODY_GC_BYTES) {
    sinceGc = 0;
    if (gc === null) return;
    if (++minors % MAJOR_EVERY === 0) gc({ type: 'major' });
    else gc({ type: 'minor' });
  }
}
