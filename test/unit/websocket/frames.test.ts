// WebSocket frame boundaries followed across arbitrary splits (7-, 16- and 64-bit lengths, masked
// and not), stopping at the next boundary, meshlet's own Close 1001 frames, and the opening
// handshake checks (Sec-WebSocket-Key, version, method) and how the HTTP parser marks an upgrade.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseRequestHead, RequestHead } from '../../../src/downstream/h1/request-head.js';
import { CLOSE_GOING_AWAY_TO_CLIENT, closeGoingAwayToServer, FrameTracker } from '../../../src/websocket/frames.js';
import { upstreamSwitched, webSocketRequestProblem } from '../../../src/websocket/handshake.js';

function frame(payload: number, masked: boolean, opcode = 2): Buffer {
  const len = payload < 126 ? [payload] : payload < 65536 ? [126, payload >> 8, payload & 255] : [127, 0, 0, 0, 0, (payload >>> 24) & 255, (payload >> 16) & 255, (payload >> 8) & 255, payload & 255];
  const head = Buffer.from([0x80 | opcode, (masked ? 0x80 : 0) | (len[0] as number), ...len.slice(1), ...(masked ? [1, 2, 3, 4] : [])]);
  return Buffer.concat([head, Buffer.alloc(payload, 0x61)]);
}

test('boundaries are found across any split, for every length encoding, masked or not', () => {
  const frames = [frame(0, false, 9), frame(5, true), frame(125, false), frame(126, true), frame(70_000, false), frame(3, true, 8)];
  const stream = Buffer.concat(frames);
  const boundaries = new Set<number>([0]);
  let at = 0;
  for (const f of frames) boundaries.add((at += f.length));
  for (const step of [1, 2, 3, 7, 64, 1000, stream.length]) {
    const t = new FrameTracker();
    for (let p = 0; p < stream.length; p += step) {
      const chunk = stream.subarray(p, Math.min(p + step, stream.length));
      assert.equal(t.advance(chunk, false), chunk.length);
      assert.equal(t.atBoundary(), boundaries.has(p + chunk.length), `step ${step} at ${p + chunk.length}`);
    }
  }
});

test('advance(stop) stops exactly at the next boundary', () => {
  const stream = Buffer.concat([frame(10, true), frame(300, true), frame(1, true)]);
  const t = new FrameTracker();
  assert.equal(t.advance(stream.subarray(0, 5), true), 5);
  assert.equal(t.atBoundary(), false);
  assert.equal(t.advance(stream.subarray(5), true), 16 - 5); // 2 + 4 + 10
  assert.equal(t.atBoundary(), true);
  assert.equal(t.advance(stream.subarray(16), true), 8 + 300);
  assert.equal(t.atBoundary(), true);
});

test('meshlet\'s Close 1001: unmasked to the client, masked to the server', () => {
  assert.deepEqual([...CLOSE_GOING_AWAY_TO_CLIENT], [0x88, 2, 0x03, 0xe9]);
  const m = closeGoingAwayToServer();
  assert.equal(m[0], 0x88);
  assert.equal(m[1], 0x82);
  assert.equal(((m[6] as number) ^ (m[2] as number)) << 8 | ((m[7] as number) ^ (m[3] as number)), 1001);
  const t = new FrameTracker();
  t.advance(m, false);
  assert.equal(t.atBoundary(), true);
});

test('the opening handshake: one valid key, version 13, GET; the 101 must name websocket and upgrade', () => {
  const h = (key: string, version = '13'): string[] => ['sec-websocket-key', key, 'sec-websocket-version', version];
  assert.equal(webSocketRequestProblem('GET', h('dGhlIHNhbXBsZSBub25jZQ==')), null);
  assert.equal(webSocketRequestProblem('GET', h('dGhlIHNhbXBsZSBub25jZR=='))?.status, 400, 'padding bits set');
  assert.equal(webSocketRequestProblem('GET', h('c2hvcnQ='))?.status, 400);
  assert.equal(webSocketRequestProblem('GET', ['sec-websocket-version', '13'])?.status, 400);
  assert.equal(webSocketRequestProblem('GET', [...h('dGhlIHNhbXBsZSBub25jZQ=='), 'sec-websocket-key', 'dGhlIHNhbXBsZSBub25jZQ=='])?.status, 400);
  assert.equal(webSocketRequestProblem('POST', h('dGhlIHNhbXBsZSBub25jZQ=='))?.status, 400);
  assert.equal(webSocketRequestProblem('GET', h('dGhlIHNhbXBsZSBub25jZQ==', '8'))?.status, 426);
  assert.equal(upstreamSwitched(['Upgrade', 'WebSocket', 'Connection', 'keep-alive, Upgrade']), true);
  assert.equal(upstreamSwitched(['Upgrade', 'h2c', 'Connection', 'Upgrade']), false);
  assert.equal(upstreamSwitched(['Upgrade', 'websocket']), false);
});

test('the HTTP/1.1 parser marks a WebSocket upgrade: Connection lists upgrade, Upgrade is websocket, HTTP/1.1, no body', () => {
  const parse = (text: string): string => {
    const head = new RequestHead();
    assert.equal(parseRequestHead(text, head), null);
    return head.upgrade;
  };
  assert.equal(parse('GET / HTTP/1.1\r\nHost: a\r\nConnection: keep-alive, Upgrade\r\nUpgrade: websocket'), 'websocket');
  assert.equal(parse('GET / HTTP/1.1\r\nHost: a\r\nConnection: upgrade\r\nUpgrade: WebSocket'), 'websocket');
  assert.equal(parse('GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket'), '', 'no Connection: upgrade');
  assert.equal(parse('GET / HTTP/1.1\r\nHost: a\r\nConnection: upgrade\r\nUpgrade: h2c'), '');
  assert.equal(parse('GET / HTTP/1.0\r\nHost: a\r\nConnection: upgrade\r\nUpgrade: websocket'), '');
  assert.equal(parse('POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nConnection: upgrade\r\nUpgrade: websocket'), '');
});
