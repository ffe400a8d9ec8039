// The scenarios' upstream apps in a child process (forked by load/run.ts, IPC): node:http servers
// on 127.0.0.1 answering `{"service","version"}` JSON like the demo's product apps, or 503 when
// failing; each counts its requests. argv[2]: JSON UpstreamSpec[]; replies {ports} then {counts}.
import http from 'node:http';
import type net from 'node:net';

export interface UpstreamSpec {
  /** key for the port placeholder and the counts (e.g. V1 → {{V1_PORT}}) */
  name: string;
  service: string;
  version: string;
  /** answer every request with 503 */
  failing?: boolean;
}

export type UpstreamMessage = { ports: Record<string, number> } | { counts: Record<string, number> };

function start(spec: UpstreamSpec, counts: Record<string, number>): Promise<number> {
  counts[spec.name] = 0;
  const body = `{"service":"${spec.service}","version":"${spec.version}"}\n`;
  const server = http.createServer({ keepAliveTimeout: 75_000 }, (req, res) => {
    counts[spec.name] = (counts[spec.name] ?? 0) + 1;
    req.resume();
    const status = spec.failing === true ? 503 : 200;
    const text = status === 200 ? body : 'upstream failing on purpose\n';
    res.writeHead(status, { 'content-type': status === 200 ? 'application/json' : 'text/plain', 'content-length': Buffer.byteLength(text), 'x-version': spec.version });
    res.end(text);
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as net.AddressInfo).port)));
}

async function main(): Promise<void> {
  const specs = JSON.parse(process.argv[2] ?? '[]') as UpstreamSpec[];
  const counts: Record<string, number> = {};
  const ports: Record<string, number> = {};
  for (const s of specs) ports[s.name] = await start(s, counts);
  const send = (m: UpstreamMessage): boolean | undefined => process.send?.(m);
  process.on('message', (m) => { if (m === 'counts') send({ counts: { ...counts } }); });
  process.on('disconnect', () => process.exit(0));
  send({ ports });
}

void main();
