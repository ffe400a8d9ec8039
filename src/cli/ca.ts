// `meshlet ca init | issue | token | serve`: the built-in mesh certificate authority.
// Private keys are written 0600 and never printed or logged; stdout carries only what was asked for.
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { parseHostPort } from './args.js';
import { createLogger } from '../log.js';
import { closeCryptoPool } from '../tls/ca/crypto-pool.js';
import { writeFileAtomic } from '../tls/ca/files.js';
import { issueWorkloadKeyAndCert } from '../tls/ca/issuer.js';
import { parseKeyType } from '../tls/ca/key-type.js';
import { startCaServer } from '../tls/ca/server.js';
import { initCa, loadCa } from '../tls/ca/store.js';
import { createToken } from '../tls/ca/tokens.js';
import { formatTtl, parseTtlMs } from '../tls/ca/ttl.js';
import { IDENTITY_FILES } from '../tls/identity/file-source.js';
import { isValidTrustDomain, parseSpiffeIdIn } from '../tls/identity/spiffe.js';

export const CA_USAGE = `  meshlet ca init --dir DIR [--trust-domain cluster.local] [--key-type rsa2048|ecdsa-p256]
  meshlet ca issue --dir DIR --identity spiffe://TD/ns/NS/sa/SA [--ttl 24h] [--key-type rsa2048|ecdsa-p256] --out OUT
  meshlet ca token --dir DIR --identity spiffe://TD/ns/NS/sa/SA [--ttl 1h]
  meshlet ca serve --dir DIR [--listen 127.0.0.1:15012] [--max-ttl 24h] [--default-ttl 1h]
                   [--server-name NAME]… [--log-level info]
`;

export async function caCommand(argv: string[]): Promise<void> {
  const [sub, ...args] = argv;
  switch (sub) {
    case 'init': return withPool(() => init(args));
    case 'issue': return withPool(() => issue(args));
    case 'token': return token(args);
    case 'serve': return serve(args);
    case undefined: case 'help': case '--help': case '-h':
      process.stdout.write(`usage:\n${CA_USAGE}`);
      return;
    default: throw new Error(`ca: expected init, issue, token or serve, got "${sub}"\nusage:\n${CA_USAGE}`);
  }
}

/** one-shot commands close the crypto pool so the process exits as soon as they are done */
async function withPool(run: () => Promise<void>): Promise<void> {
  try { await run(); } finally { await closeCryptoPool(); }
}

function required(value: string | undefined, flag: string, sub: string): string {
  if (value === undefined || value === '') throw new Error(`ca ${sub}: ${flag} is required`);
  return value;
}

async function init(args: string[]): Promise<void> {
  const { values } = parseArgs({ args, options: { dir: { type: 'string' }, 'trust-domain': { type: 'string' }, 'key-type': { type: 'string' } }, strict: true });
  const dir = required(values.dir, '--dir', 'init');
  const td = values['trust-domain'] ?? 'cluster.local';
  if (!isValidTrustDomain(td)) throw new Error(`ca init: --trust-domain "${td}" must be lower-case letters, digits, ".", "-" or "_"`);
  const ca = await initCa(dir, td, parseKeyType(values['key-type'] ?? 'rsa2048', '--key-type'));
  process.stdout.write(`created a root CA for trust domain ${ca.trustDomain} in ${dir}\n`
    + `  trust bundle: ${path.join(dir, 'ca.pem')} (sha256 ${ca.cert.fingerprint256})\n  valid until ${ca.notAfter.toISOString()}\n`);
}

async function issue(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args, options: { dir: { type: 'string' }, identity: { type: 'string' }, ttl: { type: 'string' }, out: { type: 'string' }, 'key-type': { type: 'string' } }, strict: true,
  });
  const dir = required(values.dir, '--dir', 'issue');
  const out = required(values.out, '--out', 'issue');
  const ttlMs = parseTtlMs(values.ttl ?? '24h');
  const keyType = values['key-type'] === undefined ? undefined : parseKeyType(values['key-type'], '--key-type');
  const ca = loadCa(dir);
  const id = parseSpiffeIdIn(required(values.identity, '--identity', 'issue'), ca.trustDomain).uri;
  const issued = await issueWorkloadKeyAndCert(ca, id, ttlMs, undefined, keyType);
  // created private; an existing directory keeps its mode (key.pem itself is 0600)
  mkdirSync(out, { recursive: true, mode: 0o700 });
  // key first, trust bundle last: a watcher debouncing on the directory sees a complete set last
  writeFileAtomic(path.join(out, IDENTITY_FILES.key), issued.keyPem, 0o600);
  writeFileAtomic(path.join(out, IDENTITY_FILES.cert), issued.certPem, 0o644);
  writeFileAtomic(path.join(out, IDENTITY_FILES.ca), issued.caPem, 0o644);
  process.stdout.write(`issued ${id} (serial ${issued.serial}), valid until ${issued.notAfter.toISOString()}\n  ${out}/{key.pem,cert.pem,ca.pem}\n`);
}

async function token(args: string[]): Promise<void> {
  const { values } = parseArgs({ args, options: { dir: { type: 'string' }, identity: { type: 'string' }, ttl: { type: 'string' } }, strict: true });
  const dir = required(values.dir, '--dir', 'token');
  const ttlMs = parseTtlMs(values.ttl ?? '1h');
  const ca = loadCa(dir);
  const id = parseSpiffeIdIn(required(values.identity, '--identity', 'token'), ca.trustDomain).uri;
  const t = createToken(dir, id, ttlMs);
  process.stderr.write(`join token for ${id}, one use, expires ${t.expiresAt.toISOString()} (${formatTtl(ttlMs)})\n`);
  // stdout is the token alone, for `TOKEN=$(meshlet ca token …)`
  process.stdout.write(`${t.token}\n`);
}

async function serve(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: {
      dir: { type: 'string' }, listen: { type: 'string' }, 'max-ttl': { type: 'string' }, 'default-ttl': { type: 'string' },
      'server-name': { type: 'string', multiple: true }, 'log-level': { type: 'string' },
    },
    strict: true,
  });
  const dir = required(values.dir, '--dir', 'serve');
  const { host, port } = parseHostPort(values.listen ?? '127.0.0.1:15012', '--listen');
  const maxTtlMs = parseTtlMs(values['max-ttl'] ?? '24h', '--max-ttl');
  const defaultTtlMs = parseTtlMs(values['default-ttl'] ?? '1h', '--default-ttl');
  const log = createLogger(values['log-level'] ?? 'info', 'meshlet-ca');
  const ca = loadCa(dir);
  const server = await startCaServer({ ca, host, port, log, maxTtlMs, defaultTtlMs, serverNames: values['server-name'] ?? [] });
  log.info({ url: server.url, trustDomain: ca.trustDomain, maxTtl: formatTtl(maxTtlMs) }, 'mesh CA serving');
  await new Promise<void>((resolve) => {
    const stop = (): void => { process.off('SIGTERM', stop); process.off('SIGINT', stop); resolve(); };
    process.once('SIGTERM', stop);
    process.once('SIGINT', stop);
  });
  await server.close();
  await closeCryptoPool();
  log.info('mesh CA stopped');
}
