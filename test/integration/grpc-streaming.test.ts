// gRPC streaming through one sidecar with real grpc-js ends: server streaming of 10,000 messages,
// client streaming, bidi echo with a slow reader (the writer is held back and meshlet's memory
// stays bounded), 4 MiB messages, 1,000 concurrent streams on one client connection, and
// cancellation both ways (the client's RST_STREAM reaches the server; the server's reaches the
// client) and deadlines.
import assert from 'node:assert/strict';
import http2 from 'node:http2';
import type net from 'node:net';
import { after, before, test } from 'node:test';
import { echoClient, echoHandlers, grpc, grpcServiceEntry, startGrpcServer, unary, unaryError, type EchoClient, type GrpcServer, type Msg, type StreamRequest } from '../helpers/grpc.js';
import { startMeshlet, type Meshlet } from '../helpers/meshlet.js';
import { rssBytes, watchRss } from '../helpers/proc.js';
import { GrpcFrameCounter } from '../../src/request/grpc-frames.js';

const BIG = { 'grpc.max_receive_message_length': 8 * 1024 * 1024, 'grpc.max_send_message_length': 8 * 1024 * 1024 };
let server: GrpcServer;
let rst: http2.Http2Server;
let rstPort = 0;
let m: Meshlet;
let client: EchoClient;
let cancelledOnServer = 0;
let barrier: { count: number; release: (() => void)[] } = { count: 0, release: [] };
let barrierSize = 0;
let serverWrites = 0;
let stall: http2.Http2Server;
let stallRelease: () => void = () => undefined;
let stallReceived: Promise<number>;

before(async () => {
  const base = echoHandlers('s');
  server = await startGrpcServer({
    ...base,
    Unary(call: grpc.ServerUnaryCall<Msg, Msg>, cb: grpc.sendUnaryData<Msg>) {
      if (call.request.text === 'barrier') {
        // answered only once `barrierSize` calls are in flight together
        barrier.count++;
        const go = (): void => cb(null, { text: `in flight ${barrier.count}`, payload: Buffer.alloc(0), seq: call.request.seq });
        barrier.release.push(go);
        if (barrier.count >= barrierSize) for (const r of barrier.release.splice(0)) r();
        return;
      }
      if (call.request.text === 'hang') {
        call.on('cancelled', () => { cancelledOnServer++; });
        return; // never answers
      }
      (base.Unary as (c: typeof call, cb2: typeof cb) => void)(call, cb);
    },
    ServerStream(call: grpc.ServerWritableStream<StreamRequest, Msg>) {
      if (call.request.count === -2) {
        // 3000 messages, each write counted (the slow reader test watches how far the writer gets)
        const payload = Buffer.alloc(call.request.size, 1);
        let i = 0;
        const pump = (): void => {
          while (i < 3000) {
            serverWrites++;
            if (!call.write({ text: '', payload, seq: i++ })) {
              call.once('drain', pump);
              return;
            }
          }
          call.end();
        };
        pump();
        return;
      }
      if (call.request.count < 0) {
        // endless, paced: stops only when the client cancels
        const timer = setInterval(() => call.write({ text: 'tick', payload: Buffer.alloc(0), seq: 0 }), 5);
        call.on('cancelled', () => { clearInterval(timer); cancelledOnServer++; });
        return;
      }
      (base.ServerStream as (c: typeof call) => void)(call);
    },
  }, BIG);
  // a raw HTTP/2 server that resets its stream (CANCEL) after one gRPC message
  rst = http2.createServer();
  rst.on('stream', (stream) => {
    stream.respond({ ':status': 200, 'content-type': 'application/grpc' });
    const msg = Buffer.from([0x0a, 0x01, 0x61]); // Msg{text: "a"}
    stream.write(Buffer.concat([Buffer.from([0, 0, 0, 0, msg.length]), msg]));
    stream.on('error', () => undefined);
    setTimeout(() => {
      // a write still pending when close() is called: Node resets the stream (a clean close would end it with END_STREAM first)
      stream.write(Buffer.from([0]));
      stream.close(http2.constants.NGHTTP2_CANCEL);
    }, 50);
  });
  await new Promise<void>((resolve) => rst.listen(0, '127.0.0.1', resolve));
  rstPort = (rst.address() as net.AddressInfo).port;
  // a raw HTTP/2 upstream that reads nothing until released, then counts the body
  stall = http2.createServer();
  stall.on('stream', (stream) => {
    stream.pause();
    stallReceived = new Promise<number>((resolve) => {
      let n = 0;
      stallRelease = () => {
        stream.on('data', (d: Buffer) => { n += d.length; });
        stream.on('end', () => {
          stream.respond({ ':status': 200 });
          stream.end();
          resolve(n);
        });
        stream.resume();
      };
    });
  });
  await new Promise<void>((resolve) => stall.listen(0, '127.0.0.1', resolve));
  m = await startMeshlet(grpcServiceEntry('echo', [server.port]) + grpcServiceEntry('rst', [rstPort])
    + grpcServiceEntry('stall', [(stall.address() as net.AddressInfo).port], 'HTTP2', 'http2'));
  client = echoClient(`127.0.0.1:${m.port}`, 'echo', BIG);
});

after(async () => {
  client?.close();
  await m?.stop();
  await server?.close();
  await new Promise<void>((resolve) => rst?.close(() => resolve()));
  await new Promise<void>((resolve) => stall?.close(() => resolve()));
});

test('server streaming: 10,000 messages arrive whole and in order', { timeout: 60_000 }, async () => {
  const stream = client.ServerStream({ count: 10_000, size: 64 });
  let n = 0;
  for await (const msg of stream as AsyncIterable<Msg>) {
    assert.equal(msg.seq, n);
    assert.equal(msg.payload.length, 64);
    n++;
  }
  assert.equal(n, 10_000);
});

test('client streaming: 2,000 messages counted by the server', { timeout: 60_000 }, async () => {
  const summary = await new Promise<{ messages: number; bytes: number | string }>((resolve, reject) => {
    const call = client.ClientStream(new grpc.Metadata(), {}, (err, res) => (err === null ? resolve(res as { messages: number; bytes: string }) : reject(err)));
    let i = 0;
    const write = (): void => {
      while (i < 2000) {
        if (!call.write({ seq: i++, payload: Buffer.alloc(1000, 1) })) {
          call.once('drain', write);
          return;
        }
      }
      call.end();
    };
    write();
  });
  assert.equal(summary.messages, 2000);
  assert.equal(Number(summary.bytes), 2_000_000);
});

test('bidi echo with a slow reader: the writer is held back, every message comes back in order, meshlet stays small', { timeout: 90_000 }, async () => {
  const pid = m.proc.pid as number;
  const rss0 = rssBytes(pid);
  const watch = watchRss(pid);
  const TOTAL = 1500;
  const payload = Buffer.alloc(64 * 1024, 7); // ~94 MiB each way in all
  const call = client.Bidi();
  call.pause();
  let written = 0;
  const write = (): void => {
    while (written < TOTAL) {
      if (!call.write({ seq: written++, payload })) {
        call.once('drain', write);
        return;
      }
    }
    call.end();
  };
  write();
  // nothing is read for a second (grpc-js ends buffer on their own: the writer is held back by
  // their buffers as much as by meshlet's windows, so only meshlet's memory is asserted here)
  await new Promise((r) => setTimeout(r, 1000));
  // then a slow reader: bursts of reading with pauses in between
  let got = 0;
  let inOrder = true;
  call.on('data', (msg: Msg) => {
    if (msg.seq !== got) inOrder = false;
    got++;
    if (got % 50 === 0) {
      call.pause();
      setTimeout(() => call.resume(), 20);
    }
  });
  call.resume();
  await new Promise<void>((resolve, reject) => { call.on('end', () => resolve()); call.on('error', reject); });
  const peak = watch.stop();
  assert.equal(got, TOTAL);
  assert.ok(inOrder);
  assert.ok(peak - rss0 < 80 * 1024 * 1024, `meshlet RSS grew ${((peak - rss0) / 1048576).toFixed(1)} MiB while ~${(TOTAL * payload.length * 2 / 1048576).toFixed(0)} MiB passed`);
});

test('a reader that stops slows the writer: the server\'s stream waits while nothing is read, and all 188 MiB arrive after', { timeout: 60_000 }, async () => {
  serverWrites = 0;
  const pid = m.proc.pid as number;
  const rss0 = rssBytes(pid);
  const session = http2.connect(`http://127.0.0.1:${m.port}`);
  try {
    const req = session.request({ ':method': 'POST', ':path': '/meshlet.test.Echo/ServerStream', ':authority': 'echo', 'content-type': 'application/grpc', te: 'trailers' });
    // StreamRequest{count: -2 (3000 messages, counted), size: 65536}
    const msg = Buffer.from([0x08, 0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01, 0x10, 0x80, 0x80, 0x04]);
    req.end(Buffer.concat([Buffer.from([0, 0, 0, 0, msg.length]), msg]));
    req.pause();
    await new Promise((r) => setTimeout(r, 1000));
    const whilePaused = serverWrites;
    assert.ok(whilePaused > 0 && whilePaused < 300, `the server wrote ${whilePaused} of 3000 messages while the client read nothing`);
    assert.ok(rssBytes(pid) - rss0 < 40 * 1024 * 1024);
    let bytes = 0;
    const messages = new GrpcFrameCounter();
    req.on('data', (d: Buffer) => { bytes += d.length; messages.feed(d); });
    req.resume();
    await new Promise((resolve) => req.on('end', resolve));
    assert.equal(messages.count, 3000);
    assert.ok(bytes > 3000 * 65536);
  } finally {
    session.close();
  }
});

test('an upstream that stops reading slows the client\'s upload: meshlet holds a bounded amount', { timeout: 60_000 }, async () => {
  const session = http2.connect(`http://127.0.0.1:${m.port}`);
  try {
    const req = session.request({ ':method': 'POST', ':path': '/upload', ':authority': 'stall', 'content-type': 'application/grpc' });
    let accepted = 0;
    const chunk = Buffer.alloc(64 * 1024, 3);
    let writing = true;
    const write = (): void => {
      while (writing) {
        accepted += chunk.length;
        if (!req.write(chunk)) {
          req.once('drain', write);
          return;
        }
      }
    };
    write();
    await new Promise((r) => setTimeout(r, 1000));
    writing = false;
    const held = accepted;
    // the client's own buffer, meshlet's stream and connection windows (1 + 8 MiB), the upstream's windows
    assert.ok(held < 32 * 1024 * 1024, `${(held / 1048576).toFixed(1)} MiB accepted while the upstream read nothing`);
    stallRelease();
    req.end();
    const status = await new Promise<string>((resolve) => req.on('response', (h) => resolve(String(h[':status']))));
    assert.equal(status, '200');
    assert.equal(await stallReceived, held);
  } finally {
    session.close();
  }
});

test('4 MiB messages both ways', { timeout: 60_000 }, async () => {
  const payload = Buffer.alloc(4 * 1024 * 1024);
  for (let i = 0; i < payload.length; i += 4096) payload[i] = i & 0xff;
  const r = await unary(client, { text: 'big', payload });
  assert.equal(r.payload.length, payload.length);
  assert.ok(r.payload.equals(payload));
});

test('1,000 concurrent streams on one client connection, all in flight at once', { timeout: 60_000 }, async () => {
  barrierSize = 1000;
  barrier = { count: 0, release: [] };
  const all = await Promise.all(Array.from({ length: 1000 }, (_, i) => unary(client, { text: 'barrier', seq: i })));
  assert.equal(all.length, 1000);
  all.forEach((r, i) => assert.equal(r.seq, i));
  assert.ok(all.every((r) => r.text === 'in flight 1000'));
});

test('client cancellation reaches the server (RST_STREAM through meshlet), for a stream and for a deadline', { timeout: 30_000 }, async () => {
  const before = cancelledOnServer;
  const stream = client.ServerStream({ count: -1, size: 0 });
  await new Promise<void>((resolve) => stream.once('data', () => resolve()));
  const ended = new Promise<grpc.ServiceError>((resolve) => stream.on('error', resolve));
  stream.cancel();
  assert.equal((await ended).code, grpc.status.CANCELLED);
  const deadline = await unaryError(client, { text: 'hang' }, { deadline: Date.now() + 300 });
  assert.equal(deadline?.code, grpc.status.DEADLINE_EXCEEDED);
  await waitFor(() => cancelledOnServer >= before + 2, 5000);
});

test('an upstream RST_STREAM(CANCEL) mid-stream reaches the client as CANCELLED', async () => {
  const c = echoClient(`127.0.0.1:${m.port}`, 'rst');
  try {
    // (a bidi call: the client's side stays open, so the server resets the stream instead of ending it)
    const stream = c.Bidi();
    stream.write({ text: 'open' });
    const msgs: Msg[] = [];
    stream.on('data', (msg: Msg) => msgs.push(msg));
    const err = await new Promise<grpc.ServiceError>((resolve) => stream.on('error', resolve));
    assert.equal(msgs.length, 1);
    assert.equal(msgs[0]?.text, 'a');
    assert.equal(err.code, grpc.status.CANCELLED);
  } finally {
    c.close();
  }
});

async function waitFor(cond: () => boolean, ms: number): Promise<void> {
  const until = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > until) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 20));
  }
}
