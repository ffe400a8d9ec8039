// Bodies stream both ways without being buffered whole: 50 MB up and down under a 64 MB RSS
// growth bound, a slow reader holds the upstream back and still gets every byte in order, a client
// abort aborts the upstream.
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import net from 'node:net';
import { once } from 'node:events';
import { Readable } from 'node:stream';
import { after, before, test } from 'node:test';
import { request } from 'undici';
import { serviceEntryYaml, startMeshlet, type Meshlet } from '../helpers/meshlet.js';
import { rssBytes, watchRss } from '../helpers/proc.js';
import { readResponse } from '../helpers/raw.js';
import { httpUpstream, type Upstream } from '../helpers/upstream.js';

const MB = 1024 * 1024;
const CHUNK = Buffer.alloc(64 * 1024, 'x');
const RANDOM_BODY = randomBytes(8 * MB);

let up: Upstream;
let m: Meshlet;
/** what the upstream observed of the last "/big" response */
const bigState = { written: 0, finished: false, closed: Promise.resolve() as Promise<unknown> };

before(async () => {
  up = await httpUpstream((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    if (url.pathname === '/slow-upload') {
      // reads the body only after a while: meshlet's upstream socket backs up, then the client's
      req.pause();
      let size = 0;
      req.on('data', (d: Buffer) => { size += d.length; });
      req.on('end', () => res.end(String(size)));
      setTimeout(() => req.resume(), 300);
      return;
    }
    if (url.pathname === '/upload') {
      let size = 0;
      req.on('data', (d: Buffer) => { size += d.length; });
      req.on('end', () => res.end(String(size)));
      return;
    }
    if (url.pathname === '/random') {
      // RANDOM_BODY in uneven writes, with a Content-Length
      res.writeHead(200, { 'content-length': String(RANDOM_BODY.length) });
      let at = 0;
      const pump = (): void => {
        while (at < RANDOM_BODY.length) {
          const n = Math.min(RANDOM_BODY.length - at, 1000 + ((at * 7) % 50_000));
          const ok = res.write(RANDOM_BODY.subarray(at, at + n));
          at += n;
          if (!ok) { res.once('drain', pump); return; }
        }
        res.end();
      };
      pump();
      return;
    }
    if (url.pathname === '/download' || url.pathname === '/big') {
      const total = Number(url.searchParams.get('mb')) * MB;
      const chunked = url.searchParams.get('chunked') === '1';
      res.writeHead(200, chunked ? {} : { 'content-length': String(total) });
      bigState.written = 0;
      bigState.finished = false;
      bigState.closed = once(res, 'close');
      res.on('finish', () => { bigState.finished = true; });
      const pump = (): void => {
        while (bigState.written < total) {
          bigState.written += CHUNK.length;
          if (!res.write(CHUNK)) { res.once('drain', pump); return; }
        }
        res.end();
      };
      pump();
      return;
    }
    res.end('ok');
  });
  // debug: a client connection that closes mid-request is logged with its flow-control state
  m = await startMeshlet(serviceEntryYaml('files', [{ port: up.port }]), { args: ['--log-level', 'debug'] });
});

after(async () => {
  await m?.stop();
  await up?.close();
}, { timeout: 30_000 });

function body(totalBytes: number): Readable {
  let sent = 0;
  return new Readable({
    read() {
      if (sent >= totalBytes) { this.push(null); return; }
      sent += CHUNK.length;
      this.push(CHUNK);
    },
  });
}

// each test bounds its time: a stall fails the test instead of hanging the suite
const LIMIT = { timeout: 60_000 };

/** A failure carries meshlet's last log lines (a client that goes away mid-stream is logged with the flow-control state). */
async function withMeshletLog(fn: () => Promise<void>): Promise<void> {
  try {
    await fn();
  } catch (err) {
    throw new Error(`${(err as Error).message}\n--- meshlet log (tail) ---\n${m.output().slice(-6000)}`, { cause: err });
  }
}

test('50 MB upload with Content-Length and chunked, 50 MB download: RSS grows < 64 MB', LIMIT, () => withMeshletLog(async () => {
  const pid = m.proc.pid as number;
  const base = rssBytes(pid);
  const watch = watchRss(pid);
  const withLength = await request(`${m.url}/upload`, { method: 'POST', headers: { host: 'files', 'content-length': String(50 * MB) }, body: body(50 * MB) });
  assert.equal(await withLength.body.text(), String(50 * MB));
  const chunked = await request(`${m.url}/upload`, { method: 'PUT', headers: { host: 'files' }, body: body(50 * MB) });
  assert.equal(await chunked.body.text(), String(50 * MB));
  for (const mode of ['0', '1']) {
    const down = await request(`${m.url}/download?mb=50&chunked=${mode}`, { headers: { host: 'files' } });
    let got = 0;
    for await (const d of down.body) got += (d as Buffer).length;
    assert.equal(got, 50 * MB, `download chunked=${mode}`);
  }
  const growth = watch.stop() - base;
  assert.ok(growth < 64 * MB, `RSS grew ${(growth / MB).toFixed(1)} MB`);
}));

test('a client that stops reading holds the upstream back; closing it aborts the upstream request', LIMIT, async () => {
  const pid = m.proc.pid as number;
  const base = rssBytes(pid);
  const socket = net.connect(m.port, '127.0.0.1');
  await once(socket, 'connect');
  socket.write('GET /big?mb=512 HTTP/1.1\r\nHost: files\r\n\r\n');
  await once(socket, 'data');
  socket.pause();
  // The property under test is what happens while time passes with nobody reading: after a
  // second, the upstream must have been paused far short of the 512 MB it wants to send.
  await new Promise((r) => setTimeout(r, 1000));
  const writtenWhilePaused = bigState.written;
  assert.ok(writtenWhilePaused < 96 * MB, `upstream wrote ${(writtenWhilePaused / MB).toFixed(1)} MB to a paused client`);
  assert.ok(rssBytes(pid) - base < 64 * MB, 'meshlet does not buffer the upstream body');
  socket.destroy();
  await bigState.closed;
  assert.equal(bigState.finished, false, 'the upstream response was aborted, not completed');
});

test('a client that reads in bursts with pauses gets a Content-Length body byte for byte (backpressure resumes at the right offset)', LIMIT, async () => {
  const socket = net.connect(m.port, '127.0.0.1');
  await once(socket, 'connect');
  socket.write('GET /random HTTP/1.1\r\nHost: files\r\nConnection: close\r\n\r\n');
  const parts: Buffer[] = [];
  let bytes = 0;
  let pauses = 0;
  socket.on('data', (d: Buffer) => {
    parts.push(d);
    bytes += d.length;
    // stop reading every ~512 KiB for a moment: meshlet's writes to this client fail part-way and resume on writable
    if (bytes > (pauses + 1) * 512 * 1024 && pauses < 12) {
      pauses++;
      socket.pause();
      setImmediate(() => setTimeout(() => socket.resume(), 30));
    }
  });
  await once(socket, 'end');
  const raw = Buffer.concat(parts);
  const headEnd = raw.indexOf('\r\n\r\n');
  assert.ok(headEnd > 0, 'a response head');
  assert.match(raw.subarray(0, headEnd).toString('latin1'), /^HTTP\/1\.1 200 /);
  const body = raw.subarray(headEnd + 4);
  assert.equal(body.length, RANDOM_BODY.length);
  assert.equal(createHash('sha256').update(body).digest('hex'), createHash('sha256').update(RANDOM_BODY).digest('hex'));
  assert.ok(pauses >= 8, `the client paused ${pauses} times`);
});

test('a chunked upload that backs up (client paused) and ends in the same read leaves the connection reading: the next request is answered', LIMIT, async () => {
  const socket = net.connect(m.port, '127.0.0.1');
  await once(socket, 'connect');
  const piece = Buffer.alloc(16 * 1024, 'y');
  const parts: Buffer[] = [Buffer.from('PUT /slow-upload HTTP/1.1\r\nhost: files\r\ntransfer-encoding: chunked\r\n\r\n')];
  const pieces = 256; // 4 MiB: more than the socket buffers, so the client side gets paused
  for (let i = 0; i < pieces; i++) parts.push(Buffer.from('4000\r\n'), piece, Buffer.from('\r\n'));
  parts.push(Buffer.from('0\r\n\r\n')); // the end marker right behind the last chunk: one read with it
  socket.write(Buffer.concat(parts));
  const expected = String(pieces * piece.length);
  const first = await readResponse(socket, 20_000);
  assert.match(first, /^HTTP\/1\.1 200/, 'the upload is answered');
  assert.ok(first.endsWith(expected), `the upstream got the whole body: ${first.slice(-40)}`);
  // the next request on the same keep-alive connection: the connection must be reading again
  // (a pause left behind would leave this request unread until the request time-out)
  socket.write('GET /ok HTTP/1.1\r\nhost: files\r\n\r\n');
  const second = await readResponse(socket, 5_000);
  socket.destroy();
  assert.match(second, /^HTTP\/1\.1 200/, `the next request on the connection is answered (got ${JSON.stringify(second.slice(0, 60))})`);
});
