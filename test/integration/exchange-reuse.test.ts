// A worker reuses a finished request's exchange for the next one (src/request/exchange.ts: the
// pool). Requests of every kind — proxied with and without header operations, direct responses,
// fault aborts and delays, route timeouts, unknown hosts — follow each other on the same
// connections, pipelined and in parallel: each response and each upstream request carries only
// what its own route gave it, never what the exchange held for the request before, and each
// request's record (its access log line) is its own.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { Agent, request } from 'undici';
import { serviceEntryYaml, startMeshlet, virtualServiceYaml, type Meshlet } from '../helpers/meshlet.js';
import { echoUpstream, rawUpstream, type Upstream } from '../helpers/upstream.js';

let app: Upstream;
let other: Upstream;
let hanging: Upstream;
let m: Meshlet;
const logFile = path.join(mkdtempSync(path.join(os.tmpdir(), 'meshlet-reuse-')), 'access.log');
/** x-request-id → the kind of request sent with it */
const sent = new Map<string, Kind>();

before(async () => {
  app = await echoUpstream('app');
  other = await echoUpstream('other');
  hanging = await rawUpstream(() => undefined); // never answers
  m = await startMeshlet([
    serviceEntryYaml('app', [{ port: app.port }]),
    serviceEntryYaml('plain', [{ port: other.port }]),
    serviceEntryYaml('stuck', [{ port: hanging.port }]),
    virtualServiceYaml('app', `
headers:
  request: {set: {x-req: hdr}}
  response: {set: {x-route: hdr}}
route: [{destination: {host: app}}]`),
    virtualServiceYaml('direct', 'directResponse: {status: 418, body: {string: teapot}}'),
    virtualServiceYaml('abort', 'fault: {abort: {percentage: {value: 100}, httpStatus: 503}}\nroute: [{destination: {host: app}}]'),
    virtualServiceYaml('delay', 'fault: {delay: {percentage: {value: 100}, fixedDelay: 20ms}}\nroute: [{destination: {host: plain}}]'),
    virtualServiceYaml('stuck', 'timeout: 50ms\nroute: [{destination: {host: stuck}}]'),
  ].join(''), { workers: 1, args: ['--access-log', logFile] });
});

after(async () => {
  if (m !== undefined && m.proc.exitCode === null) await m.stop();
  await app?.close();
  await other?.close();
  await hanging?.close();
});

type Kind = 'hdr' | 'plain' | 'direct' | 'abort' | 'delay' | 'stuck' | 'unknown';
const HOSTS: Record<Kind, string> = { hdr: 'app', plain: 'plain', direct: 'direct', abort: 'abort', delay: 'delay', stuck: 'stuck', unknown: 'nobody.example' };
const STATUS: Record<Kind, number> = { hdr: 200, plain: 200, direct: 418, abort: 503, delay: 200, stuck: 504, unknown: 404 };
/** x-meshlet-flags on the response (local replies only) */
const FLAGS: Record<Kind, string | undefined> = { hdr: undefined, plain: undefined, direct: undefined, abort: 'FI', delay: undefined, stuck: 'UT', unknown: 'NR' };
/** the cluster each proxied request went to */
const CLUSTER: Partial<Record<Kind, string>> = { hdr: 'app', plain: 'plain', delay: 'plain', stuck: 'stuck' };
/** the record's response flags */
const RECORD_FLAGS: Record<Kind, string> = { hdr: '-', plain: '-', direct: '-', abort: 'FI', delay: 'DI', stuck: 'UT', unknown: 'NR' };

/** One request of `kind` on `agent`; returns what is wrong with its answer ('' when nothing). */
async function check(agent: Agent, kind: Kind, n: number): Promise<string> {
  const id = `req-${n}`;
  sent.set(id, kind);
  const res = await request(`${m.url}/${kind}/${n}`, { headers: { host: HOSTS[kind], 'x-request-id': id }, dispatcher: agent });
  const body = await res.body.text();
  const problems: string[] = [];
  if (res.statusCode !== STATUS[kind]) problems.push(`status ${res.statusCode}`);
  if (res.headers['x-route'] !== (kind === 'hdr' ? 'hdr' : undefined)) problems.push(`x-route ${String(res.headers['x-route'])}`);
  if (res.headers['x-meshlet-flags'] !== FLAGS[kind]) problems.push(`flags ${String(res.headers['x-meshlet-flags'])}`);
  if (res.headers['x-request-id'] !== undefined && res.headers['x-request-id'] !== id) problems.push(`x-request-id ${String(res.headers['x-request-id'])}`);
  if (kind === 'direct' && body !== 'teapot') problems.push(`body ${body}`);
  if (STATUS[kind] === 200) {
    const echo = JSON.parse(body) as { name: string; url: string; headers: Record<string, string> };
    if (echo.name !== (kind === 'hdr' ? 'app' : 'other')) problems.push(`answered by ${echo.name}`);
    if (echo.url !== `/${kind}/${n}`) problems.push(`upstream url ${echo.url}`);
    if (echo.headers['x-req'] !== (kind === 'hdr' ? 'hdr' : undefined)) problems.push(`upstream x-req ${String(echo.headers['x-req'])}`);
    if (echo.headers['x-request-id'] !== id) problems.push(`upstream x-request-id ${echo.headers['x-request-id']}`);
  }
  return problems.length === 0 ? '' : `${kind} #${n}: ${problems.join(', ')}`;
}

const ORDER: Kind[] = ['hdr', 'plain', 'direct', 'hdr', 'abort', 'plain', 'unknown', 'hdr', 'delay', 'plain', 'stuck', 'hdr', 'direct', 'direct', 'plain', 'abort', 'hdr'];

test('requests of every kind, one after another on one connection and on four at once: each answer is its own', async () => {
  const one = new Agent({ connections: 1 });
  const wrong: string[] = [];
  for (let i = 0; i < ORDER.length * 3; i++) {
    const problem = await check(one, ORDER[i % ORDER.length] as Kind, i);
    if (problem !== '') wrong.push(problem);
  }
  await one.close();
  const four = new Agent({ connections: 4 });
  const lanes = [0, 1, 2, 3].map(async (lane) => {
    for (let i = 0; i < ORDER.length * 2; i++) {
      const n = 1000 * (lane + 1) + i;
      const problem = await check(four, ORDER[(i + lane * 5) % ORDER.length] as Kind, n);
      if (problem !== '') wrong.push(problem);
    }
  });
  await Promise.all(lanes);
  await four.close();
  assert.deepEqual(wrong, []);
});

test('pipelined requests answered at once and proxied, in one write: each answer in order and its own', async () => {
  const socket = net.connect(m.port, '127.0.0.1');
  await new Promise<void>((r) => socket.once('connect', r));
  const kinds: Kind[] = ['direct', 'hdr', 'direct', 'unknown', 'plain', 'direct', 'hdr'];
  kinds.forEach((k, i) => sent.set(`p-${i}`, k));
  socket.write(kinds.map((k, i) => `GET /${k}/${i} HTTP/1.1\r\nhost: ${HOSTS[k]}\r\nx-request-id: p-${i}\r\n\r\n`).join(''));
  const answers = await readAnswers(socket, kinds.length);
  socket.destroy();
  kinds.forEach((k, i) => {
    const a = answers[i] as string;
    assert.match(a, new RegExp(`^HTTP/1\\.1 ${STATUS[k]} `), `answer ${i} (${k}): ${a}`);
    assert.equal(/\r\nx-route: hdr\r\n/.test(a), k === 'hdr', `answer ${i} (${k}): ${a}`);
    if (STATUS[k] === 200) assert.ok(a.includes(`"url":"/${k}/${i}"`), `answer ${i} (${k}): ${a}`);
  });
});

test('each request has its own record: one access log line with its status, flags, authority, path, cluster and size', async () => {
  assert.equal(await m.stop(), 0); // (flushes the log)
  const lines = readFileSync(logFile, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
  assert.equal(lines.length, sent.size);
  const wrong: string[] = [];
  for (const line of lines) {
    const id = String(line.x_request_id);
    const kind = sent.get(id);
    if (kind === undefined) {
      wrong.push(`unknown request ${id}`);
      continue;
    }
    const want = {
      response_code: STATUS[kind], response_flags: RECORD_FLAGS[kind], authority: HOSTS[kind],
      path: `/${kind}/${id.slice(id.indexOf('-') + 1)}`, method: 'GET',
    };
    const got = { response_code: line.response_code, response_flags: line.response_flags, authority: line.authority, path: line.path, method: line.method };
    if (JSON.stringify(got) !== JSON.stringify(want)) wrong.push(`${id} (${kind}): ${JSON.stringify(got)}`);
    if ((STATUS[kind] === 200) !== (Number(line.bytes_sent) > 0)) wrong.push(`${id} (${kind}): bytes_sent ${String(line.bytes_sent)}`);
    const cluster = CLUSTER[kind];
    if (cluster !== undefined && line.upstream_cluster !== `outbound|80||${cluster}.default.svc.cluster.local`) wrong.push(`${id} (${kind}): upstream_cluster ${String(line.upstream_cluster)}`);
    if (kind === 'unknown' && line.upstream_cluster !== null) wrong.push(`${id} (${kind}): upstream_cluster ${String(line.upstream_cluster)}`);
  }
  assert.deepEqual(wrong, []);
});

/** `count` whole responses (each framed by Content-Length) from `socket`, as text. */
function readAnswers(socket: net.Socket, count: number): Promise<string[]> {
  return new Promise((resolve, reject) => {
    let buf = '';
    const answers: string[] = [];
    socket.on('data', (d: Buffer) => {
      buf += d.toString('latin1');
      for (;;) {
        const end = buf.indexOf('\r\n\r\n');
        if (end < 0) break;
        const length = /\r\ncontent-length: *(\d+)/i.exec(buf.slice(0, end));
        if (length === null) return reject(new Error(`no content-length: ${buf}`));
        const size = end + 4 + Number(length[1]);
        if (buf.length < size) break;
        answers.push(buf.slice(0, size));
        buf = buf.slice(size);
      }
      if (answers.length >= count) resolve(answers);
    });
    socket.on('close', () => reject(new Error(`closed after ${answers.length} answers: ${buf}`)));
  });
}
