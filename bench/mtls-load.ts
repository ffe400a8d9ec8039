// Load generator for the mTLS bench (a child process pinned to the load CPU): `connections`
// keep-alive connections, each sending requests back to back for `durationS`, over http or
// https with a client certificate. Prints one JSON line: requests, req/s, p50/p99 ms, errors.
import { readFileSync } from 'node:fs';
import { Pool } from 'undici';

interface Args { url: string; host: string; connections: number; durationS: number; ca?: string; cert?: string; key?: string }

const args = JSON.parse(process.argv[2] ?? '{}') as Args;
const tls = args.ca === undefined ? undefined : {
  ca: readFileSync(args.ca, 'utf8'), cert: readFileSync(args.cert as string, 'utf8'), key: readFileSync(args.key as string, 'utf8'),
  // mesh certificates name workloads (URI SAN), not hosts: the chain is what is checked here
  checkServerIdentity: () => undefined,
};
const pool = new Pool(args.url, { connections: args.connections, pipelining: 1, ...(tls === undefined ? {} : { connect: tls }) });
const latencies: number[] = [];
let errors = 0;
const end = performance.now() + args.durationS * 1000;

async function loop(): Promise<void> {
  while (performance.now() < end) {
    const t = performance.now();
    try {
      const r = await pool.request({ path: '/', method: 'GET', headers: { host: args.host } });
      await r.body.dump();
      if (r.statusCode !== 200) errors++;
    } catch {
      errors++;
    }
    latencies.push(performance.now() - t);
  }
}

const t0 = performance.now();
await Promise.all(Array.from({ length: args.connections }, loop));
const elapsed = (performance.now() - t0) / 1000;
await pool.close();
latencies.sort((a, b) => a - b);
const at = (q: number): number => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? NaN;
process.stdout.write(`${JSON.stringify({ requests: latencies.length, rps: latencies.length / elapsed, p50Ms: at(0.5), p99Ms: at(0.99), errors })}\n`);
