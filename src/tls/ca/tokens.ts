// Join tokens: random secrets bound to one SPIFFE ID, stored only as their SHA-256 under
// DIR/tokens/ — one 0600 file per token, so `ca token` and a running `ca serve` never race on a
// shared file. Consuming renames `<hash>.json` to `<hash>.used`: atomic, so a token works once.
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync, readdirSync, renameSync, unlinkSync } from 'node:fs';
import path from 'node:path';
import { ensurePrivateDir, writeFileAtomic } from './files.js';

export const TOKENS_DIR = 'tokens';
const TOKEN_SHAPE = /^[A-Za-z0-9_-]{16,256}$/;
/** expired token files are kept this long (so a late reuse still says "expired"), then pruned */
const KEEP_AFTER_EXPIRY_MS = 86_400_000;

interface TokenRecord { spiffeId: string; expiresAt: number; createdAt: number }

export type TokenCheck =
  | { ok: true; spiffeId: string; hash: string }
  | { ok: false; reason: 'unknown join token' | 'join token already used' | 'join token expired' };

const hashOf = (token: string): string => createHash('sha256').update(token).digest('hex');
const fileOf = (caDir: string, hash: string, used: boolean): string => path.join(caDir, TOKENS_DIR, `${hash}.${used ? 'used' : 'json'}`);

export function createToken(caDir: string, spiffeId: string, ttlMs: number, now = Date.now()): { token: string; expiresAt: Date } {
  const dir = path.join(caDir, TOKENS_DIR);
  ensurePrivateDir(dir);
  prune(dir, now);
  // never a leading '-': `--ca-token TOKEN` would read it as an option (1 token in 64 otherwise)
  let token: string;
  do token = randomBytes(32).toString('base64url');
  while (token.startsWith('-'));
  const record: TokenRecord = { spiffeId, expiresAt: now + ttlMs, createdAt: now };
  writeFileAtomic(fileOf(caDir, hashOf(token), false), JSON.stringify(record), 0o600);
  return { token, expiresAt: new Date(record.expiresAt) };
}

/** Looks the token up without consuming it. */
export function checkToken(caDir: string, token: string, now = Date.now()): TokenCheck {
  if (!TOKEN_SHAPE.test(token)) return { ok: false, reason: 'unknown join token' };
  const hash = hashOf(token);
  const record = readRecord(fileOf(caDir, hash, false)) ?? readRecord(fileOf(caDir, hash, true));
  if (record === null) return { ok: false, reason: 'unknown join token' };
  if (record.used) return { ok: false, reason: 'join token already used' };
  if (now >= record.expiresAt) return { ok: false, reason: 'join token expired' };
  return { ok: true, spiffeId: record.spiffeId, hash };
}

/** True for the one caller that consumed it; false when another request got there first. */
export function consumeToken(caDir: string, hash: string): boolean {
  try {
    renameSync(fileOf(caDir, hash, false), fileOf(caDir, hash, true));
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw err;
  }
}

/** Gives a consumed token back (the certificate could not be issued after all). */
export function restoreToken(caDir: string, hash: string): void {
  renameSync(fileOf(caDir, hash, true), fileOf(caDir, hash, false));
}

function readRecord(file: string): (TokenRecord & { used: boolean }) | null {
  try {
    const r = JSON.parse(readFileSync(file, 'utf8')) as TokenRecord;
    return { ...r, used: file.endsWith('.used') };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
}

function prune(dir: string, now: number): void {
  for (const name of readdirSync(dir)) {
    if (!/^[0-9a-f]{64}\.(json|used)$/.test(name)) continue;
    const r = readRecord(path.join(dir, name));
    if (r !== null && r.expiresAt + KEEP_AFTER_EXPIRY_MS < now) unlinkSync(path.join(dir, name));
  }
}
