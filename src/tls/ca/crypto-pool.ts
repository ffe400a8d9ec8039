// The piscina pool that runs crypto-tasks.ts off the event loop (keygen ~100 ms, a forge signature
// ~30 ms would stall the control thread). One lazily created pool per process, shared by CA and clients;
// piscina itself is loaded with the first task (a sidecar without the mesh CA never loads it).
import { availableParallelism } from 'node:os';
import type { Piscina } from 'piscina';
import type { CryptoResults, CryptoTask } from './crypto-tasks.js';

let pool: Promise<Piscina> | null = null;

async function newPool(): Promise<Piscina> {
  const { Piscina } = await import('piscina');
  return new Piscina({
    filename: new URL('../../../workers/ca-crypto.js', import.meta.url).href,
    minThreads: 0,
    maxThreads: Math.min(2, availableParallelism()),
    // idle threads are unref'd by piscina and exit after this: a sidecar renews rarely
    idleTimeout: 30_000,
  });
}

export async function runCrypto<K extends CryptoTask['kind']>(task: Extract<CryptoTask, { kind: K }>): Promise<CryptoResults[K]> {
  pool ??= newPool();
  return (await pool).run(task) as Promise<CryptoResults[K]>;
}

export async function closeCryptoPool(): Promise<void> {
  const p = pool;
  pool = null;
  await (await p?.catch(() => null))?.close();
}
