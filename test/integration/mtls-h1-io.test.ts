// HTTP/1.1 over an inbound mTLS connection reads and writes whole: pipelined requests in one TLS
// write, large bodies both ways across many TLS records, and a response the client stops reading
// (backpressure reaches the app) all arrive complete, in order and byte-exact. (Inbound TLS
// sockets read into the worker's one input buffer, downstream/tls/read-into.ts.)
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import type http from 'node:http';
import { after, before, test } from 'node:test';
import tls from 'node:tls';
import { identityArgs, identityDir, makeCa, makeLeaf, peerAuthenticationYaml, type Ca, type Leaf } from '../helpers/certs.js';
import { startMeshlet, type Meshlet } from '../helpers/meshlet.js';
import { freePort } from '../helpers/ports.js';
import { httpUpstream, type Upstream } from '../helpers/upstream.js';

let ca: Ca;
let client: Leaf;
let app: Upstream;
let sidecar: Meshlet;
let port: number;
/** resolved the first time the app's response write returns false (the client's backpressure reached it) */
let appBackpressure: () => void = () => {};

function pattern(n: number, seed: number): Buffer {
  const b = Buffer.allocUnsafe(n);
  for (let i = 0; i < n; i++) b[i] = (i * 7 + seed) % 251;
  return b;
}

/** GET /size/N/S: N bytes of pattern S; POST: "<bytes> <sha256>" of the body */
function appHandler(req: http.IncomingMessage, res: http.ServerResponse): void {
  if (req.method === 'POST') {
    const hash = createHash('sha256');
    let n = 0;
    req.on('data', (d: Buffer) => { n += d.length; hash.update(d); });
    req.on('end', () => {
      const body = `${n} ${hash.digest('hex')}`;
      res.writeHead(200, { 'content-length': body.length }).end(body);
    });
    return;
  }
  const [, , size, seed] = (req.url ?? '').split('/');
  const body = pattern(Number(size), Number(seed));
  res.writeHead(200, { 'content-length': body.length });
  let at = 0;
  const more = (): void => {
    while (at < body.length) {
      const ok = res.write(body.subarray(at, at + 65536));
      at += 65536;
      if (!ok) {
        appBackpressure();
        res.once('drain', more);
        return;
      }
    }
    res.end();
  };
  more();
}

before(async () => {
  ca = makeCa('mesh');
  client = makeLeaf(ca, 'spiffe://cluster.local/ns/a/sa/a');
  const server = makeLeaf(ca, 'spiffe://cluster.local/ns/b/sa/b');
  app = await httpUpstream(appHandler);
  port = await freePort();
  const yaml = `apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: {name: b}
spec:
  ingress:
  - port: {number: ${port}, protocol: HTTP, name: http-in}
    defaultEndpoint: 127.0.0.1:${app.port}
  egress:
  - port: {number: ${await freePort()}, protocol: HTTP}
    hosts: ["*/*"]
---
${peerAuthenticationYaml('STRICT')}`;
  sidecar = await startMeshlet(yaml, { noSidecar: true, args: identityArgs(identityDir(server, ca.certPem)) });
});

after(async () => {
  await sidecar?.stop();
  await app?.close();
});

function connect(): tls.TLSSocket {
  return tls.connect({ port, host: '127.0.0.1', ca: ca.certPem, cert: client.certPem, key: client.keyPem, ALPNProtocols: ['http/1.1'], checkServerIdentity: () => undefined });
}

interface Reply { status: number; body: Buffer }

/** Reads `count` responses (Content-Length framed) from the socket, in order. */
function readReplies(socket: tls.TLSSocket, count: number): Promise<Reply[]> {
  return new Promise((resolve, reject) => {
    let buf = Buffer.alloc(0);
    const out: Reply[] = [];
    const onData = (d: Buffer): void => {
      buf = Buffer.concat([buf, d]);
      for (;;) {
        const end = buf.indexOf('\r\n\r\n');
        if (end < 0) return;
        const head = buf.subarray(0, end).toString('latin1');
        const m = /\r\ncontent-length: (\d+)/i.exec(head);
        if (m === null) return reject(new Error(`no content-length in ${head}`));
        const total = end + 4 + Number(m[1]);
        if (buf.length < total) return;
        out.push({ status: Number(head.slice(9, 12)), body: Buffer.from(buf.subarray(end + 4, total)) });
        buf = buf.subarray(total);
        if (out.length === count) {
          socket.off('data', onData);
          return resolve(out);
        }
      }
    };
    socket.on('data', onData);
    socket.once('error', reject);
    socket.once('close', () => reject(new Error(`closed after ${out.length} of ${count} responses`)));
  });
}

const get = (path: string): string => `GET ${path} HTTP/1.1\r\nhost: svc\r\n\r\n`;

test('30 pipelined requests in one TLS write (sent with the handshake\'s last flight): 30 whole responses in order', async () => {
  const socket = connect();
  const sizes = Array.from({ length: 30 }, (_, i) => (i % 3 === 0 ? 100_000 + i : 10 + i));
  const posts = new Map<number, Buffer>();
  let text = '';
  sizes.forEach((size, i) => {
    if (i % 5 === 4) {
      const body = pattern(size, i);
      posts.set(i, body);
      text += `POST /p HTTP/1.1\r\nhost: svc\r\ncontent-length: ${body.length}\r\n\r\n${body.toString('latin1')}`;
    } else {
      text += get(`/size/${size}/${i}`);
    }
  });
  socket.write(Buffer.from(text, 'latin1'));
  const replies = await readReplies(socket, 30);
  socket.destroy();
  replies.forEach((r, i) => {
    assert.equal(r.status, 200, `response ${i}`);
    const post = posts.get(i);
    if (post !== undefined) assert.equal(r.body.toString(), `${post.length} ${createHash('sha256').update(post).digest('hex')}`, `response ${i}`);
    else assert.ok(r.body.equals(pattern(sizes[i] as number, i)), `response ${i}: ${r.body.length} bytes, expected ${sizes[i]}`);
  });
});

test('request bodies over many TLS records: 3 MB with Content-Length in 7 kB writes, and chunked in odd pieces', async () => {
  const socket = connect();
  const big = pattern(3_000_000, 1);
  socket.write(`POST /p HTTP/1.1\r\nhost: svc\r\ncontent-length: ${big.length}\r\n\r\n`);
  for (let at = 0; at < big.length; at += 7000) if (!socket.write(big.subarray(at, at + 7000))) await once(socket, 'drain');
  const chunked = pattern(250_001, 2);
  let text = 'POST /p HTTP/1.1\r\nhost: svc\r\ntransfer-encoding: chunked\r\n\r\n';
  for (let at = 0, n = 1; at < chunked.length; at += n, n = n * 3 + 1) {
    const piece = chunked.subarray(at, at + n);
    text += `${piece.length.toString(16)}\r\n${piece.toString('latin1')}\r\n`;
  }
  const raw = Buffer.from(`${text}0\r\n\r\n`, 'latin1');
  for (let at = 0; at < raw.length; at += 999) socket.write(raw.subarray(at, at + 999));
  const [a, b] = await readReplies(socket, 2);
  socket.destroy();
  assert.equal(a?.body.toString(), `${big.length} ${createHash('sha256').update(big).digest('hex')}`);
  assert.equal(b?.body.toString(), `${chunked.length} ${createHash('sha256').update(chunked).digest('hex')}`);
});

test('a client that stops reading a 16 MB response: the backpressure reaches the app, then every byte arrives, and the next request on the connection is answered', async () => {
  const socket = connect();
  await once(socket, 'secureConnect');
  const backpressure = new Promise<void>((resolve) => { appBackpressure = resolve; });
  socket.pause();
  socket.write(get('/size/16000000/3') + get('/size/5/4'));
  await backpressure;
  const replies = readReplies(socket, 2);
  socket.resume();
  const [big, small] = await replies;
  socket.destroy();
  assert.ok(big?.body.equals(pattern(16_000_000, 3)), `${big?.body.length} bytes`);
  assert.ok(small?.body.equals(pattern(5, 4)));
});
