// Bounded fuzzing (seeded, reproducible): generated and mutated responses fed to the
// ResponseParser at random split points with random pauses, checked against invariants and against
// the same input fed in one piece; then a smaller batch through real sockets and the whole codec.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { h1Codec } from '../../../src/upstream/h1/index.js';
import { ResponseParser, S_DONE, type ResponseSink } from '../../../src/upstream/h1/response-parser.js';
import { Collector, prng, request, sleep, startRawServer, writeParts } from './helpers.js';
import { flagNames } from '../../../src/stats/flags.js';

type Rng = () => number;

interface Base {
  bytes: Buffer;
  headRequest: boolean;
  body: Buffer;
  /** offset just past the message; for close-delimited bodies the input length */
  end: number;
  status: number;
}

function int(rng: Rng, lo: number, hi: number): number {
  return lo + Math.floor(rng() * (hi - lo + 1));
}
function pick<T>(rng: Rng, xs: readonly T[]): T {
  return xs[Math.floor(rng() * xs.length)] as T;
}
function randomBody(rng: Rng, max: number): Buffer {
  const b = Buffer.alloc(int(rng, 0, max));
  for (let i = 0; i < b.length; i++) b[i] = Math.floor(rng() * 256);
  return b;
}
function randomHeaders(rng: Rng): string {
  let s = '';
  const n = int(rng, 0, 6);
  for (let i = 0; i < n; i++) {
    const name = pick(rng, ['X-A', 'set-cookie', 'Server', 'ETag', 'x-long-header-name', 'Vary', 'Cache-Control']);
    const value = pick(rng, ['1', 'a b c', '', '  padded  ', 'caf\xe9', 'v'.repeat(int(rng, 1, 300))]);
    s += `${name}: ${value}\r\n`;
  }
  return s;
}

const STATUSES = [200, 201, 202, 301, 400, 404, 500, 503];

function generate(rng: Rng): Base {
  const interim = rng() < 0.15 ? pick(rng, ['HTTP/1.1 100 Continue\r\n\r\n', 'HTTP/1.1 103 Early Hints\r\nLink: </x>\r\n\r\n', 'HTTP/1.1 102 Processing\r\n\r\n']) : '';
  const kind = int(rng, 0, 4);
  const status = pick(rng, STATUSES);
  const reason = rng() < 0.1 ? '' : ' Reason';
  const head = `${interim}HTTP/1.${rng() < 0.1 ? 0 : 1} ${status}${reason}\r\n${randomHeaders(rng)}`;
  if (kind === 0) {
    const body = randomBody(rng, 3000);
    const bytes = Buffer.concat([Buffer.from(`${head}Content-Length: ${body.length}\r\n\r\n`, 'latin1'), body]);
    return { bytes, headRequest: false, body, end: bytes.length, status };
  }
  if (kind === 1) {
    const parts: Buffer[] = [Buffer.from(`${head}Transfer-Encoding: chunked\r\n\r\n`, 'latin1')];
    const bodies: Buffer[] = [];
    const n = int(rng, 0, 8);
    for (let i = 0; i < n; i++) {
      const data = randomBody(rng, 1500);
      if (data.length === 0) continue;
      bodies.push(data);
      const hex = data.length.toString(16);
      const ext = rng() < 0.3 ? `;ext${i}=${pick(rng, ['1', '"quoted value"', 'x'])}` : '';
      parts.push(Buffer.from(`${rng() < 0.5 ? hex : hex.toUpperCase()}${ext}\r\n`), data, Buffer.from('\r\n'));
    }
    const trailers = rng() < 0.3 ? 'X-Trailer: yes\r\nX-Sum: 1\r\n' : '';
    parts.push(Buffer.from(`0${rng() < 0.2 ? ';last' : ''}\r\n${trailers}\r\n`));
    const bytes = Buffer.concat(parts);
    return { bytes, headRequest: false, body: Buffer.concat(bodies), end: bytes.length, status };
  }
  if (kind === 2) {
    const body = randomBody(rng, 2000);
    const bytes = Buffer.concat([Buffer.from(`${head}\r\n`, 'latin1'), body]);
    return { bytes, headRequest: false, body, end: -1, status };
  }
  if (kind === 3) {
    const s = pick(rng, [204, 304]);
    const bytes = Buffer.from(`${interim}HTTP/1.1 ${s} X\r\n${randomHeaders(rng)}${rng() < 0.5 ? 'Content-Length: 42\r\n' : ''}\r\n`, 'latin1');
    return { bytes, headRequest: false, body: Buffer.alloc(0), end: bytes.length, status: s };
  }
  const bytes = Buffer.from(`${head}${rng() < 0.5 ? 'Content-Length: 1234' : 'Transfer-Encoding: chunked'}\r\n\r\n`, 'latin1');
  return { bytes, headRequest: true, body: Buffer.alloc(0), end: bytes.length, status };
}

/** what a reused read buffer holds past the current read: line ends and a head-like line */
const STALE = '\r\n\nHTTP/1.1 500 X\r\nContent-Length: 9\r\n\r\n0\r\n';

const INSERTS = ['\r', '\n', '\0', '\r\n', ' ', ':', ';', '0', 'f', 'z', '\r\n\r\n', 'Content-Length: 3\r\n', 'Transfer-Encoding: chunked\r\n'];

function mutate(rng: Rng, input: Buffer): Buffer {
  let b = Buffer.from(input);
  const rounds = int(rng, 1, 3);
  for (let r = 0; r < rounds; r++) {
    if (b.length === 0) break;
    const at = int(rng, 0, b.length - 1);
    switch (int(rng, 0, 5)) {
      case 0: // flip a byte
        b[at] = Math.floor(rng() * 256);
        break;
      case 1: // truncate
        b = b.subarray(0, at);
        break;
      case 2: { // duplicate a range
        const len = int(rng, 1, 40);
        b = Buffer.concat([b.subarray(0, at), b.subarray(at, at + len), b.subarray(at)]);
        break;
      }
      case 3: // insert CR / LF / NUL / framing bits
        b = Buffer.concat([b.subarray(0, at), Buffer.from(pick(rng, INSERTS), 'latin1'), b.subarray(at)]);
        break;
      case 4: { // delete a range
        const len = int(rng, 1, 20);
        b = Buffer.concat([b.subarray(0, at), b.subarray(at + len)]);
        break;
      }
      default: { // replace a chunk-size-looking hex run with a random size
        const text = b.toString('latin1');
        const m = /\r\n([0-9a-fA-F]+)(;|\r\n)/g;
        const hits = [...text.matchAll(m)];
        if (hits.length === 0) break;
        const hit = pick(rng, hits);
        const start = (hit.index ?? 0) + 2;
        b = Buffer.concat([b.subarray(0, start), Buffer.from(int(rng, 0, 5000).toString(16)), b.subarray(start + (hit[1] as string).length)]);
      }
    }
  }
  return b;
}

interface Result {
  kind: 'end' | 'error';
  status: number;
  headers: string[];
  body: Buffer;
  /** absolute offset just past the message (end only) */
  consumed: number;
}

/** Feeds `input` in the given pieces; the sink pauses (returns false) with probability `pauseP`. */
function runParser(input: Buffer, cuts: number[], headRequest: boolean, rng: Rng, pauseP: number): Result {
  let heads = 0;
  let status = 0;
  let headers: string[] = [];
  const body: Buffer[] = [];
  let piece = input;
  let pieceFrom = 0;
  let pieceEnd = 0;
  const sink: ResponseSink = {
    onResponseHead(s, h) {
      heads++;
      assert.equal(heads, 1, 'one final head');
      status = s;
      headers = h;
      return rng() >= pauseP;
    },
    onResponseBody(chunk) {
      assert.equal(heads, 1, 'body only after the head');
      assert.ok(chunk.length > 0, 'no empty body chunks');
      // zero-copy and in bounds: a view of the piece being fed, never beyond it
      assert.equal(chunk.buffer, piece.buffer);
      assert.ok(chunk.byteOffset >= piece.byteOffset + pieceFrom && chunk.byteOffset + chunk.length <= piece.byteOffset + pieceEnd, 'slice within the fed range');
      body.push(Buffer.from(chunk));
      return rng() >= pauseP;
    },
  };
  const parser = new ResponseParser(sink);
  parser.reset(headRequest);
  let abs = 0;
  let prev = 0;
  for (const cut of [...cuts, input.length]) {
    // a read: its bytes at the start of a buffer that is longer half of the time, the rest stale
    // bytes of earlier reads (as in the codec's reused read buffer), which must never be parsed
    const len = cut - prev;
    piece = Buffer.alloc(len + (rng() < 0.5 ? int(rng, 1, 64) : 0), STALE);
    input.copy(piece, 0, prev, cut);
    prev = cut;
    pieceEnd = len;
    let off = 0;
    for (;;) {
      pieceFrom = off;
      const r = parser.feed(piece, off, len);
      if (r === -1) {
        assert.notEqual(parser.error, '');
        assert.equal(parser.feed(piece, 0, len), -1, 'errors are sticky');
        return { kind: 'error', status, headers, body: Buffer.concat(body), consumed: -1 };
      }
      assert.ok(r >= off && r <= len);
      if (parser.state === S_DONE) {
        assert.equal(parser.feed(piece, r, len), r, 'nothing is consumed after the message');
        assert.equal(parser.finish(), true);
        return { kind: 'end', status, headers, body: Buffer.concat(body), consumed: abs + r };
      }
      if (r === len) break;
      off = r; // the sink paused: resume where it stopped
    }
    abs += len;
  }
  const ok = parser.finish();
  return { kind: ok ? 'end' : 'error', status, headers, body: Buffer.concat(body), consumed: ok ? input.length : -1 };
}

function randomCuts(rng: Rng, length: number): number[] {
  const mode = rng();
  const cuts: number[] = [];
  if (mode < 0.1) {
    for (let i = 1; i < length; i++) cuts.push(i); // 1-byte reads
  } else {
    const n = int(rng, 0, Math.min(12, length));
    for (let i = 0; i < n; i++) cuts.push(int(rng, 1, Math.max(1, length - 1)));
    cuts.sort((a, b) => a - b);
  }
  return cuts.filter((c, i) => c > 0 && c < length && c !== cuts[i - 1]);
}

function framingOf(headers: string[]): { cl: number; te: boolean } {
  let cl = -1;
  let te = false;
  for (let i = 0; i < headers.length; i += 2) {
    const n = (headers[i] as string).toLowerCase();
    if (n === 'content-length') cl = Number(headers[i + 1]);
    if (n === 'transfer-encoding') te = true;
  }
  return { cl, te };
}

test('parser fuzz: valid and mutated responses, random splits and pauses (bounded to ~4 s)', { timeout: 15_000 }, () => {
  const rng = prng(0x5eed);
  const deadline = Date.now() + 4000;
  let iterations = 0;
  let ends = 0;
  let errors = 0;
  while (Date.now() < deadline && iterations < 40_000) {
    iterations++;
    const base = generate(rng);
    const mutated = rng() < 0.6;
    let input = mutated ? mutate(rng, base.bytes) : base.bytes;
    const garbage = !mutated && base.end >= 0 && rng() < 0.5;
    if (garbage) input = Buffer.concat([input, Buffer.from('HTTP/1.1 200 OK\r\nextra')]);
    const cuts = randomCuts(rng, input.length);
    let split: Result;
    let whole: Result;
    try {
      split = runParser(input, cuts, base.headRequest, rng, 0.15);
      whole = runParser(input, [], base.headRequest, () => 1, 0);
    } catch (err) {
      assert.fail(`iteration ${iterations}: ${(err as Error).stack}\ninput: ${JSON.stringify(input.toString('latin1'))}\ncuts: ${cuts}`);
    }
    const where = `iteration ${iterations} (${mutated ? 'mutated' : 'valid'}): ${JSON.stringify(input.toString('latin1').slice(0, 300))} cuts ${cuts.slice(0, 20)}`;
    // split points and pauses never change the outcome
    assert.equal(split.kind, whole.kind, where);
    assert.equal(split.status, whole.status, where);
    assert.deepEqual(split.headers, whole.headers, where);
    assert.ok(split.body.equals(whole.body), where);
    assert.equal(split.consumed, whole.consumed, where);
    if (split.kind === 'end') {
      ends++;
      assert.ok(split.body.length <= split.consumed, where);
      const { cl, te } = framingOf(split.headers);
      const bodyless = base.headRequest || split.status === 204 || split.status === 304;
      if (bodyless) assert.equal(split.body.length, 0, where);
      else if (cl >= 0 && !te) assert.equal(split.body.length, cl, `${where}: body must match Content-Length`);
    } else {
      errors++;
    }
    if (!mutated) {
      assert.equal(split.kind, 'end', where);
      assert.equal(split.status, base.status, where);
      assert.ok(split.body.equals(base.body), where);
      assert.equal(split.consumed, base.end >= 0 ? base.end : input.length, `${where}: stops exactly at the end of the message`);
    }
  }
  console.log(`# parser fuzz: ${iterations} cases, ${ends} ended, ${errors} errored`);
  assert.ok(iterations > 1000);
});

test('socket fuzz: mutated responses through the whole codec end exactly once, never hang (bounded)', { timeout: 20_000 }, async () => {
  const rng = prng(0xfeed);
  const inputs: { bytes: Buffer; cuts: number[]; method: string }[] = [];
  for (let i = 0; i < 240; i++) {
    const base = generate(rng);
    const bytes = rng() < 0.7 ? mutate(rng, base.bytes) : base.bytes;
    inputs.push({ bytes, cuts: randomCuts(rng, bytes.length).slice(0, 6), method: base.headRequest ? 'HEAD' : 'GET' });
  }
  const srv = await startRawServer((req) => {
    const c = inputs[Number(req.path.slice(1))];
    if (c === undefined) return;
    const parts: Buffer[] = [];
    let prev = 0;
    for (const cut of [...c.cuts, c.bytes.length]) {
      parts.push(c.bytes.subarray(prev, cut));
      prev = cut;
    }
    void writeParts(req.socket, parts).then(() => setTimeout(() => req.socket.end(), 20));
  });
  const pool = h1Codec.createPool('127.0.0.1', srv.port, { connections: 24, idleTimeoutMs: 1000, connectTimeoutMs: 1000, maxRequestsPerConnection: 0, queueTimeoutMs: 0 });
  const deadline = Date.now() + 6000;
  let done = 0;
  try {
    for (let from = 0; from < inputs.length && Date.now() < deadline; from += 24) {
      const batch: Collector[] = [];
      for (let i = from; i < Math.min(inputs.length, from + 24); i++) {
        const c = new Collector();
        batch.push(c);
        pool.dispatch(request((inputs[i] as { method: string }).method, `/${i}`, srv.port), c);
      }
      await Promise.race([Promise.all(batch.map((c) => c.done)), sleep(3000)]);
      await sleep(5);
      for (const c of batch) {
        assert.equal(c.endings, 1, `exactly one ending: ${c.outcome.events.join(',')}`);
        const ev = c.outcome.events;
        assert.equal(ev[0], 'start');
        if (c.outcome.kind === 'error' && ev.includes('headers')) assert.ok(['UR', 'UPE'].includes(flagNames(c.outcome.error?.flag ?? 0)), flagNames(c.outcome.error?.flag ?? 0));
        if (c.outcome.kind === 'error' && !ev.includes('headers')) assert.ok(['UPE', 'UC'].includes(flagNames(c.outcome.error?.flag ?? 0)), flagNames(c.outcome.error?.flag ?? 0));
      }
      done += batch.length;
    }
  } finally {
    await pool.destroy();
    await srv.close();
  }
  console.log(`# socket fuzz: ${done} exchanges`);
  assert.ok(done >= 48);
});
