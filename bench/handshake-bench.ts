// `npm run bench:handshake`: the cost of one mesh mTLS handshake with RSA-2048 and ECDSA P-256
// workload certificates (one RSA-2048 mesh CA), full and resumed (session ticket), with meshlet's
// own TLS settings (tls-settings.ts: server TLS 1.2/1.3 + requestCert against the bundle, client
// TLS 1.3). A server process on the proxy CPU, a client process on the other CPU doing
// BENCH_CONCURRENCY (8) handshakes at a time for BENCH_DURATION (5) s per case, in BENCH_RUNS (3)
// interleaved rounds; each side's CPU per handshake from /proc. Not a test.
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { fileURLToPath } from 'node:url';
import { makeCa, makeEcdsaLeaf, makeLeaf, type Leaf } from '../test/helpers/certs.js';
import { clientContextOptions, serverContextOptions } from '../src/tls/tls-settings.js';
import type { WorkloadIdentity } from '../src/tls/identity/source.js';
import { medianOf, positiveEnv } from './measure.js';
import { freePort, launch, runToEnd, stopAll, stopChildrenOnExit, waitUntil } from './proc.js';
import { treeUsage } from './proc-stats.js';
import { machineLines, writeReport } from './report.js';
import { PROXY_CPU, UPSTREAM_CPU } from './servers.js';

const SELF = fileURLToPath(import.meta.url);
const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
type Kind = 'rsa' | 'ecdsa';
interface Files { ca: string; server: Leaf; client: Leaf }

function identity(l: Leaf, ca: string): WorkloadIdentity {
  return { spiffeId: l.spiffeId, certPem: l.certPem, keyPem: l.keyPem, caPem: ca, notBefore: new Date(0), notAfter: new Date(0) };
}

/** role server: argv [server, files.json, port] */
async function serve(files: Files, port: number): Promise<void> {
  const server = tls.createServer({ ...serverContextOptions(identity(files.server, files.ca)), requestCert: true, rejectUnauthorized: true,
    ALPNProtocols: ['http/1.1'], sessionIdContext: 'bench', ticketKeys: Buffer.alloc(48, 1) }, (s) => s.end());
  server.on('tlsClientError', () => undefined);
  server.listen(port, '127.0.0.1');
}

/** role client: argv [client, files.json, port, resumed, concurrency, seconds] → JSON {handshakes, resumed} */
async function client(files: Files, port: number, resume: boolean, concurrency: number, seconds: number): Promise<void> {
  const context = tls.createSecureContext(clientContextOptions(identity(files.client, files.ca)));
  let session: Buffer | undefined;
  let handshakes = 0;
  let resumed = 0;
  const end = performance.now() + seconds * 1000;
  const one = async (): Promise<void> => {
    const s = tls.connect({ port, host: '127.0.0.1', secureContext: context, ALPNProtocols: ['http/1.1'], checkServerIdentity: () => undefined, session: resume ? session : undefined });
    s.on('session', (x: Buffer) => { session = x; });
    s.on('error', () => undefined);
    await once(s, 'secureConnect');
    handshakes++;
    if (s.isSessionReused()) resumed++;
    s.resume();
    await once(s, 'close');
  };
  if (resume) await one(); // a session to resume
  handshakes = 0;
  resumed = 0;
  await Promise.all(Array.from({ length: concurrency }, async () => { while (performance.now() < end) await one(); }));
  process.stdout.write(`${JSON.stringify({ handshakes, resumed })}\n`);
}

async function main(): Promise<void> {
  stopChildrenOnExit();
  const [runs, seconds, concurrency] = [positiveEnv('BENCH_RUNS', 3), positiveEnv('BENCH_DURATION', 5), positiveEnv('BENCH_CONCURRENCY', 8)];
  const startedAt = new Date();
  const machine = machineLines();
  const dir = mkdtempSync(path.join(os.tmpdir(), 'meshlet-handshake-bench-'));
  process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
  const ca = makeCa('handshake-bench');
  const files: Record<Kind, string> = { rsa: path.join(dir, 'rsa.json'), ecdsa: path.join(dir, 'ecdsa.json') };
  writeFileSync(files.rsa, JSON.stringify({ ca: ca.certPem, server: makeLeaf(ca, 'spiffe://cluster.local/ns/b/sa/s'), client: makeLeaf(ca, 'spiffe://cluster.local/ns/b/sa/c') }));
  writeFileSync(files.ecdsa, JSON.stringify({ ca: ca.certPem, server: await makeEcdsaLeaf(ca, 'spiffe://cluster.local/ns/b/sa/s'), client: await makeEcdsaLeaf(ca, 'spiffe://cluster.local/ns/b/sa/c') }));
  const cases: [Kind, boolean][] = [['rsa', false], ['ecdsa', false], ['rsa', true], ['ecdsa', true]];
  const results = new Map<string, { rate: number[]; serverUs: number[]; clientUs: number[] }>();
  try {
    const servers = new Map<Kind, { port: number; pid: number }>();
    for (const kind of ['rsa', 'ecdsa'] as const) {
      const port = await freePort();
      const child = launch(`server-${kind}`, PROXY_CPU, process.execPath, [SELF, 'server', files[kind], String(port)]);
      await waitUntil(child, () => new Promise((resolve) => { const s = tls.connect({ port, host: '127.0.0.1', rejectUnauthorized: false }); s.on('error', () => resolve(false)); s.on('secureConnect', () => { s.destroy(); resolve(true); }); }));
      servers.set(kind, { port, pid: child.pid });
    }
    for (let round = 0; round < runs; round++) {
      for (const [kind, resume] of cases) {
        const server = servers.get(kind) as { port: number; pid: number };
        const s0 = treeUsage(server.pid).cpuMs;
        const r = await runToEnd('client', UPSTREAM_CPU, process.execPath, [SELF, 'client', files[kind], String(server.port), resume ? '1' : '0', String(concurrency), String(seconds)], (seconds + 30) * 1000);
        const serverMs = treeUsage(server.pid).cpuMs - s0;
        if (r.code !== 0) throw new Error(`the client exited with ${r.code}: ${r.output()}`);
        const out = JSON.parse(r.stdout()) as { handshakes: number; resumed: number };
        // the client's own CPU: its whole process (startup ~40 ms is part of it, the same for every case)
        const clientMs = Number(/"cpuMs":(\d+(\.\d+)?)/.exec(r.output())?.[1] ?? NaN);
        const key = `${kind} ${resume ? 'resumed' : 'full'}`;
        const e = results.get(key) ?? { rate: [], serverUs: [], clientUs: [] };
        e.rate.push(out.handshakes / seconds);
        e.serverUs.push((serverMs * 1000) / out.handshakes);
        e.clientUs.push((clientMs * 1000) / out.handshakes);
        results.set(key, e);
        process.stderr.write(`bench: ${key}: ${(out.handshakes / seconds).toFixed(0)} handshakes/s (${out.resumed} resumed), server ${((serverMs * 1000) / out.handshakes).toFixed(0)} µs each\n`);
      }
    }
  } finally {
    await stopAll();
  }
  const lines = [...results].map(([k, e]) => `| ${k} | ${medianOf(e.rate).toFixed(0)} | ${medianOf(e.serverUs).toFixed(0)} | ${Number.isFinite(medianOf(e.clientUs)) ? medianOf(e.clientUs).toFixed(0) : '–'} |`);
  const table = ['| workload key, handshake | handshakes/s (client CPU bound) | server CPU µs per handshake | client CPU µs per handshake |', '| --- | ---: | ---: | ---: |', ...lines].join('\n');
  const setup = [`- one server process (CPU ${PROXY_CPU}) per key type with meshlet's server settings (TLS 1.2/1.3, requestCert + rejectUnauthorized, tickets); a client process (CPU ${UPSTREAM_CPU}) with meshlet's client settings (TLS 1.3), ${concurrency} handshakes at a time, ${seconds} s per case, ${runs} interleaved rounds, medians`,
    '- full: no session; resumed: every connection offers the ticket of an earlier one (TLS 1.3 PSK with (EC)DHE)', '- CA: RSA 2048 (signs both kinds of leaves)'];
  const body = `# meshlet mTLS handshake bench\n\n${[...machine, ...setup].join('\n')}\n\n${table}\n`;
  process.stdout.write(`\n${table}\n`);
  process.stdout.write(`\nbench: wrote ${path.relative(REPO_ROOT, writeReport(REPO_ROOT, startedAt, body, 'handshake-bench'))}\n`);
}

const [role, file, port, ...rest] = process.argv.slice(2);
if (role === 'server') {
  void serve(JSON.parse((await import('node:fs')).readFileSync(file as string, 'utf8')) as Files, Number(port));
} else if (role === 'client') {
  await client(JSON.parse((await import('node:fs')).readFileSync(file as string, 'utf8')) as Files, Number(port), rest[0] === '1', Number(rest[1]), Number(rest[2]));
  const u = process.cpuUsage();
  process.stderr.write(`${JSON.stringify({ cpuMs: (u.user + u.system) / 1000 })}\n`);
} else {
  main().catch(async (err: Error) => {
    process.stderr.write(`bench: ${err.stack ?? err.message}\n`);
    await stopAll(3000);
    process.exit(1);
  });
}
