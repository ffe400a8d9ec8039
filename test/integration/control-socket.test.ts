// The control socket under hostile and careless clients, on real Unix sockets: the reply to an
// oversized frame arrives before the close even while the client keeps writing; connections and
// buffered bytes are bounded, beyond which clients get an error reply (20 concurrent 15 MiB frames
// grew RSS by ~500 MB before); idle connections are closed; pipelined requests are all answered.
// And the default socket lives in a directory only this user can write, used alike by the server,
// the CLI and a wrapped app.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { chmodSync, chownSync, mkdirSync, mkdtempSync, statSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { controlRequest } from '../../src/control/control-client.js';
import { startControlServer } from '../../src/control/control-server.js';
import { encodeFrame, FrameDecoder } from '../../src/control/frame.js';
import { controlSocketDir, defaultControlSocket } from '../../src/control/socket-path.js';
import { createLogger } from '../../src/log.js';
import { MAIN, runCli, runMeshletExpectingExit, sidecarYaml, startMeshlet, writeConfig } from '../helpers/meshlet.js';
import { freePort } from '../helpers/ports.js';

const dir = mkdtempSync(path.join(os.tmpdir(), 'meshlet-control-'));
const log = createLogger('silent');
const ops = {
  ping: () => ({ ok: true }),
  echo: (req: Record<string, unknown>) => ({ ok: true, n: req.n }),
};
let server: net.Server;
let sock: string;
/** the server side of each accepted connection, in order (its ControlConnection listens first) */
const accepted: net.Socket[] = [];

before(async () => {
  sock = path.join(dir, 'control.sock');
  server = await startControlServer(sock, ops, log, {
    maxRequestBytes: 1024 * 1024, maxConnections: 3, maxBufferedBytes: 1536 * 1024, idleTimeoutMs: 60_000, lingerMs: 500,
  });
  server.on('connection', (s: net.Socket) => accepted.push(s));
});

after(() => {
  server?.close();
});

/** `p`, or a failure naming `what` after `ms` (a regression fails instead of hanging the suite). */
async function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => { timer = setTimeout(() => reject(new Error(`${what}: nothing within ${ms} ms`)), ms); });
  try {
    return await Promise.race([p, late]);
  } finally {
    clearTimeout(timer);
  }
}

/** A connected client collecting every reply frame it receives until the server closes. */
async function client(path = sock): Promise<{ s: net.Socket; replies: Record<string, unknown>[]; closed: Promise<void>; next(): Promise<Record<string, unknown>> }> {
  const s = net.connect(path);
  const replies: Record<string, unknown>[] = [];
  const decoder = new FrameDecoder();
  s.on('error', () => undefined); // a reset after the reply is expected while still writing
  s.on('data', (d: Buffer) => { replies.push(...decoder.push(d)); s.emit('reply'); });
  const closed = new Promise<void>((resolve) => s.once('close', () => resolve()));
  await once(s, 'connect');
  return {
    s, replies, closed,
    async next() {
      const seen = replies.length;
      const closedFirst = closed.then(() => { throw new Error('closed without a reply'); });
      closedFirst.catch(() => undefined); // raced below; a close after the reply is no failure
      while (replies.length === seen) await within(Promise.race([once(s, 'reply'), closedFirst]), 10_000, 'reply');
      return replies[seen] as Record<string, unknown>;
    },
  };
}

/** The server-side socket of the connection accepted after `count` others. */
async function serverSide(count: number): Promise<net.Socket> {
  while (accepted.length <= count) await once(server, 'connection');
  return accepted[count] as net.Socket;
}

/** Closes these clients and waits until the server has seen every connection since `base` close (its slots are free). */
async function closeAll(base: number, clients: { s: net.Socket }[]): Promise<void> {
  for (const c of clients) c.s.destroy();
  await Promise.all(accepted.slice(base).filter((s) => !s.destroyed).map((s) => once(s, 'close')));
}

function header(length: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(length);
  return b;
}

test('an oversized frame header gets its error reply before the close, while the client keeps writing', async () => {
  // a real meshlet in its own process: the close racing the reply needs the client writing in parallel
  const m = await startMeshlet('');
  try {
    for (let i = 0; i < 10; i++) {
      const c = await client(defaultControlSocket(m.adminPort));
      c.s.write(header(0x7fffffff));
      c.s.write(Buffer.alloc(8 * 1024 * 1024, 1)); // still writing when meshlet refuses
      const reply = await c.next(); // rejects when the connection closes without it
      c.s.destroy();
      assert.equal(reply.ok, false, `run ${i}`);
      assert.match(String(reply.errors), /^frame of 2147483647 bytes exceeds the \d+-byte limit$/);
    }
    assert.equal((await controlRequest(defaultControlSocket(m.adminPort), { op: 'ping' })).ok, true);
  } finally {
    await m.stop();
  }
});

test('connections beyond the limit get an error reply; a slot frees when one closes', async () => {
  const base = accepted.length;
  const held = [await client(), await client(), await client()];
  await serverSide(base + 2);
  const refused = await client();
  assert.deepEqual(await refused.next(), { id: null, ok: false, errors: ['control socket busy: 3 connections are open (the limit); retry later'] });
  await refused.closed;
  const first = await serverSide(base);
  held[0]?.s.destroy();
  await once(first, 'close');
  assert.equal((await controlRequest(sock, { op: 'ping' })).ok, true);
  await closeAll(base, [...held, refused]);
});

test('bytes buffered across connections are bounded: a frame past the budget is refused, and fits once the others are answered', async () => {
  const base = accepted.length;
  const body = { id: 1, op: 'echo', n: 1, pad: 'x'.repeat(900 * 1024) };
  const frame = encodeFrame(body);
  // A sends all but the last byte of a 900 KiB request: admitted, held
  const a = await client();
  a.s.write(frame.subarray(0, frame.length - 1));
  const aSide = await serverSide(base);
  while (aSide.bytesRead < frame.length - 1) await once(aSide, 'data');
  // B's 900 KiB frame would pass the 1.5 MiB budget
  const b = await client();
  b.s.write(frame);
  const refusal = await b.next();
  assert.equal(refusal.ok, false);
  assert.match(String(refusal.errors), /^control socket busy: \d+ bytes of requests are buffered or being answered, and a frame of \d+ bytes would pass the 1572864-byte limit; retry later$/);
  // A completes and is answered: its bytes are returned, and the same frame now fits
  a.s.write(frame.subarray(frame.length - 1));
  assert.deepEqual(await a.next(), { id: 1, ok: true, n: 1 });
  const c = await client();
  c.s.write(frame);
  assert.deepEqual(await c.next(), { id: 1, ok: true, n: 1 });
  await closeAll(base, [a, b, c]);
});

test('many pipelined requests on one connection are all answered, in order', async () => {
  const base = accepted.length;
  const c = await client();
  c.s.write(Buffer.concat(Array.from({ length: 200 }, (_, i) => encodeFrame({ id: i, op: 'echo', n: i }))));
  while (c.replies.length < 200) await c.next();
  assert.deepEqual(c.replies.map((r) => r.n), Array.from({ length: 200 }, (_, i) => i));
  await closeAll(base, [c]);
});

test('an idle connection is closed, also after a request that outlasted the idle timeout', async () => {
  const idleSock = path.join(dir, 'idle.sock');
  let finish: () => void = () => undefined;
  const slow = new Promise<void>((resolve) => { finish = resolve; });
  const idle = await startControlServer(idleSock, { ...ops, slow: async () => { await slow; return { ok: true }; } }, log, { idleTimeoutMs: 100 });
  const sides: net.Socket[] = [];
  idle.on('connection', (s: net.Socket) => sides.push(s));
  try {
    const quiet = await client(idleSock);
    await within(quiet.closed, 10_000, 'close of the idle connection'); // nothing sent: the server closes it
    assert.deepEqual(quiet.replies, []);
    const busy = await client(idleSock);
    busy.s.write(encodeFrame({ id: 7, op: 'slow' }));
    while (sides.length < 2) await once(idle, 'connection');
    await once(sides[1] as net.Socket, 'timeout'); // idle while answering: kept open
    finish();
    assert.deepEqual(await busy.next(), { id: 7, ok: true });
    await within(busy.closed, 10_000, 'close once idle after the reply');
  } finally {
    idle.close();
  }
});

test('the default socket is in a 0700 directory of this user: $XDG_RUNTIME_DIR/meshlet, used by server and CLI alike', async () => {
  const runtime = mkdtempSync(path.join(os.tmpdir(), 'meshlet-xdg-'));
  const env = { ...process.env, XDG_RUNTIME_DIR: runtime };
  assert.equal(controlSocketDir(env), path.join(runtime, 'meshlet'));
  const m = await startMeshlet('', { env });
  try {
    const socket = defaultControlSocket(m.adminPort, env);
    assert.equal(socket, path.join(runtime, 'meshlet', `control-${m.adminPort}.sock`));
    const st = statSync(path.dirname(socket));
    assert.equal(st.mode & 0o777, 0o700);
    assert.equal(st.uid, process.getuid?.());
    assert.equal(statSync(socket).mode & 0o777, 0o600);
    const shown = await runCli(['config', '--admin-port', String(m.adminPort)], env);
    assert.equal(shown.code, 0, shown.stderr);
    assert.match(shown.stdout, /^# generation 1\n/);
  } finally {
    await m.stop();
  }
  // without XDG_RUNTIME_DIR: meshlet-<uid> in the temp directory, never /tmp/meshlet-<port>.sock itself
  const { XDG_RUNTIME_DIR: _, ...noXdg } = process.env;
  assert.equal(path.dirname(defaultControlSocket(15000, noXdg)), path.join(os.tmpdir(), `meshlet-${process.getuid?.()}`));
});

test('a default socket directory others can write, or owned by another user, is refused by the server and the CLI', async () => {
  const runtime = mkdtempSync(path.join(os.tmpdir(), 'meshlet-xdg-'));
  const shared = path.join(runtime, 'meshlet');
  mkdirSync(shared);
  chmodSync(shared, 0o777);
  const env = { ...process.env, XDG_RUNTIME_DIR: runtime };
  const config = writeConfig(sidecarYaml(await freePort()));
  const run = await runMeshletExpectingExit(['run', '-c', config, '--admin', `127.0.0.1:${await freePort()}`], env);
  assert.equal(run.code, 1);
  assert.match(run.output, new RegExp(`meshlet: control socket directory ${shared} is writable by everyone \\(mode 777\\): refusing it, since another user could put a socket there`));
  const cli = await runCli(['config', '--admin-port', '15000'], env);
  assert.equal(cli.code, 1);
  assert.match(cli.stderr, /^meshlet: control socket directory .* is writable by everyone/);
  if (process.getuid?.() === 0) {
    chmodSync(shared, 0o700);
    chownSync(shared, 65534, 65534);
    const other = await runCli(['config', '--admin-port', '15000'], env);
    assert.equal(other.code, 1);
    assert.match(other.stderr, /^meshlet: control socket directory .* is owned by uid 65534, not by this user \(uid 0\)/);
  }
});

test('a wrapped app gets MESHLET_CONTROL_SOCKET, so `meshlet config` in it reaches its meshlet even on a custom socket', async () => {
  const custom = path.join(dir, 'custom.sock');
  const config = writeConfig(sidecarYaml(await freePort()));
  const r = await runMeshletExpectingExit(['run', '-c', config, '--workers', '1', '--admin', `127.0.0.1:${await freePort()}`, '--control-socket', custom,
    '--', process.execPath, MAIN, 'config']);
  assert.equal(r.code, 0, r.output);
  assert.match(r.output, /# generation 1\n# from /);
});
