// Trace header propagation: W3C traceparent and B3 (single and multi) are continued with a new span
// id for this hop, written back in the formats that arrived; malformed input starts a new trace.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  FORMAT_B3_MULTI, FORMAT_B3_SINGLE, FORMAT_W3C, parseB3Single, parseTraceparent, propagate, TraceContext,
} from '../../../src/tracing/propagation.js';
import { RatioSampler } from '../../../src/tracing/sampler.js';

const TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
const PARENT = '00f067aa0ba902b7';
const HEX16 = /^[0-9a-f]{16}$/;
const HEX32 = /^[0-9a-f]{32}$/;
const always = new RatioSampler(100);
const never = new RatioSampler(0);

function run(headers: string[], sampler = never): { h: string[]; c: TraceContext; get(name: string): string | undefined; count(name: string): number } {
  const h = ['host', 'svc', ...headers];
  const c = new TraceContext();
  propagate(h, sampler, c);
  const get = (name: string): string | undefined => { const i = h.indexOf(name); return i < 0 || i % 2 === 1 ? undefined : h[i + 1]; };
  const count = (name: string): number => h.filter((v, i) => i % 2 === 0 && v === name).length;
  return { h, c, get, count };
}

test('W3C: a valid traceparent is continued; the outgoing parent-id is the new span', () => {
  const r = run(['traceparent', `00-${TRACE}-${PARENT}-01`, 'tracestate', 'congo=t61rcWkgMzE']);
  assert.equal(r.c.traceId, TRACE);
  assert.equal(r.c.parentId, PARENT);
  assert.match(r.c.spanId, HEX16);
  assert.notEqual(r.c.spanId, PARENT);
  assert.equal(r.c.sampled, true, 'sampled flag honoured even with a 0% sampler');
  assert.equal(r.c.formats, FORMAT_W3C);
  assert.equal(r.get('traceparent'), `00-${TRACE}-${r.c.spanId}-01`);
  assert.equal(r.get('tracestate'), 'congo=t61rcWkgMzE', 'tracestate passes unchanged');
  assert.equal(r.get('x-b3-traceid'), undefined, 'no B3 added when W3C arrived');
  assert.equal(r.get('b3'), undefined);
});

test('W3C: sampled=0 is honoured even with a 100% sampler', () => {
  const r = run(['traceparent', `00-${TRACE}-${PARENT}-00`], always);
  assert.equal(r.c.sampled, false);
  assert.equal(r.get('traceparent'), `00-${TRACE}-${r.c.spanId}-00`);
});

test('W3C: other flag bits and future versions', () => {
  assert.equal(parseTraceparent(`00-${TRACE}-${PARENT}-03`), true);
  assert.equal(run(['traceparent', `00-${TRACE}-${PARENT}-03`]).c.sampled, true);
  assert.equal(run(['traceparent', `00-${TRACE}-${PARENT}-02`], always).c.sampled, false);
  assert.equal(parseTraceparent(`01-${TRACE}-${PARENT}-01-what-the-future-holds`), true, 'a later version may add fields');
  assert.equal(parseTraceparent(`01-${TRACE}-${PARENT}-01`), true);
});

test('W3C: invalid traceparents are refused and start a new trace (tracestate dropped)', () => {
  const bad = [
    '', 'garbage', `00-${TRACE}-${PARENT}-01-extra`, `ff-${TRACE}-${PARENT}-01`, `00-${TRACE.toUpperCase()}-${PARENT}-01`,
    `00-${'0'.repeat(32)}-${PARENT}-01`, `00-${TRACE}-${'0'.repeat(16)}-01`, `00-${TRACE}-${PARENT}-0g`, `00_${TRACE}-${PARENT}-01`,
    `00-${TRACE}-${PARENT}01`, `0-${TRACE}-${PARENT}-01`, `00-${TRACE.slice(1)}-${PARENT}-01`, `01-${TRACE}-${PARENT}-01x`,
    `00-${TRACE}-${PARENT}-1`, `00-${TRACE}-${PARENT.slice(0, 15)}z-01`,
  ];
  for (const v of bad) {
    assert.equal(parseTraceparent(v), false, v);
    const r = run(['traceparent', v, 'tracestate', 'a=b']);
    assert.match(r.c.traceId, HEX32, v);
    assert.notEqual(r.c.traceId, TRACE, v);
    assert.equal(r.c.parentId, '', v);
    assert.equal(r.get('traceparent'), `00-${r.c.traceId}-${r.c.spanId}-00`, v);
    assert.equal(r.get('tracestate'), undefined, v);
  }
});

test('no trace header: a new trace with traceparent and B3 multi headers, sampled by the sampler', () => {
  const off = run([]);
  assert.equal(off.c.formats, 0);
  assert.match(off.c.traceId, HEX32);
  assert.equal(off.c.parentId, '');
  assert.equal(off.c.sampled, false);
  assert.equal(off.get('traceparent'), `00-${off.c.traceId}-${off.c.spanId}-00`);
  assert.equal(off.get('x-b3-traceid'), off.c.traceId);
  assert.equal(off.get('x-b3-spanid'), off.c.spanId);
  assert.equal(off.get('x-b3-sampled'), '0');
  assert.equal(off.get('x-b3-parentspanid'), undefined);
  const on = run([], always);
  assert.equal(on.c.sampled, true);
  assert.equal(on.get('x-b3-sampled'), '1');
  assert.ok(on.get('traceparent')?.endsWith('-01'));
  assert.notEqual(on.c.traceId, off.c.traceId);
});

test('B3 single: full, without parent, 64-bit trace id, debug, deny', () => {
  const full = run(['b3', `${TRACE}-${PARENT}-1-05e3ac9a4f6e3b90`]);
  assert.equal(full.c.traceId, TRACE);
  assert.equal(full.c.parentId, PARENT);
  assert.equal(full.c.sampled, true);
  assert.equal(full.c.formats, FORMAT_B3_SINGLE);
  assert.equal(full.get('b3'), `${TRACE}-${full.c.spanId}-1-${PARENT}`);
  assert.equal(full.get('traceparent'), undefined, 'only the formats that arrived');
  assert.equal(full.get('x-b3-traceid'), undefined);

  const short = run(['b3', `a3ce929d0e0e4736-${PARENT}`], always);
  assert.equal(short.c.traceId, 'a3ce929d0e0e4736', '64-bit trace ids are kept');
  assert.equal(short.c.sampled, true, 'deferred: the sampler decides');
  assert.equal(short.get('b3'), `a3ce929d0e0e4736-${short.c.spanId}-1-${PARENT}`);

  const debug = run(['b3', `${TRACE}-${PARENT}-d`]);
  assert.equal(debug.c.sampled, true);
  assert.equal(debug.c.debug, true);
  assert.equal(debug.get('b3'), `${TRACE}-${debug.c.spanId}-d-${PARENT}`);

  const deny = run(['b3', `${TRACE}-${PARENT}-0`], always);
  assert.equal(deny.c.sampled, false);
  assert.equal(deny.get('b3'), `${TRACE}-${deny.c.spanId}-0-${PARENT}`);
});

test('B3 single: a decision alone starts a trace with that decision', () => {
  const deny = run(['b3', '0'], always);
  assert.equal(deny.c.sampled, false);
  assert.equal(deny.c.parentId, '');
  assert.equal(deny.get('b3'), `${deny.c.traceId}-${deny.c.spanId}-0`);
  assert.equal(run(['b3', '1']).c.sampled, true);
  assert.equal(run(['b3', 'd']).c.debug, true);
});

test('B3 single: malformed values never throw and start a new trace', () => {
  const bad = ['', '2', 'x', `${TRACE}`, `${TRACE}-`, `${TRACE}-${PARENT}-`, `${TRACE}-${PARENT}-2`, `${TRACE}-${PARENT}-1-`,
    `${TRACE}-${PARENT}-1-${PARENT}0`, `${TRACE}-${PARENT}-1-zz`, `${TRACE.slice(2)}-${PARENT}`, `${TRACE}-${PARENT.toUpperCase()}`,
    `${'0'.repeat(32)}-${PARENT}-1`, `${TRACE}-${PARENT}x1`, '-'.repeat(60), `${TRACE}-${PARENT}-11`];
  for (const v of bad) {
    assert.equal(parseB3Single(v), -1, v);
    const r = run(['b3', v]);
    assert.notEqual(r.c.traceId, TRACE, v);
    assert.equal(r.c.parentId, '', v);
    assert.equal(r.get('b3'), `${r.c.traceId}-${r.c.spanId}-0`, v);
  }
});

test('B3 multi: continued; span and parent ids rewritten, trace id and flags kept', () => {
  const r = run(['x-b3-traceid', TRACE, 'x-b3-spanid', PARENT, 'x-b3-parentspanid', '05e3ac9a4f6e3b90', 'x-b3-sampled', '1']);
  assert.equal(r.c.traceId, TRACE);
  assert.equal(r.c.parentId, PARENT);
  assert.equal(r.c.sampled, true);
  assert.equal(r.c.formats, FORMAT_B3_MULTI);
  assert.equal(r.get('x-b3-traceid'), TRACE);
  assert.equal(r.get('x-b3-spanid'), r.c.spanId);
  assert.equal(r.get('x-b3-parentspanid'), PARENT);
  assert.equal(r.get('x-b3-sampled'), '1');
  assert.equal(r.count('x-b3-spanid'), 1);
  assert.equal(r.get('traceparent'), undefined);

  const noParent = run(['x-b3-traceid', TRACE, 'x-b3-spanid', PARENT], always);
  assert.equal(noParent.c.sampled, true, 'deferred: the sampler decides');
  assert.equal(noParent.get('x-b3-parentspanid'), PARENT, 'added');
  assert.equal(noParent.get('x-b3-sampled'), '1', 'the decision is passed on');

  assert.equal(run(['x-b3-traceid', TRACE, 'x-b3-spanid', PARENT, 'x-b3-sampled', 'true']).c.sampled, true);
  assert.equal(run(['x-b3-traceid', TRACE, 'x-b3-spanid', PARENT, 'x-b3-sampled', '0'], always).c.sampled, false);
  assert.equal(run(['x-b3-traceid', TRACE, 'x-b3-spanid', PARENT, 'x-b3-sampled', 'false'], always).c.sampled, false);

  const debug = run(['x-b3-traceid', TRACE, 'x-b3-spanid', PARENT, 'x-b3-flags', '1']);
  assert.equal(debug.c.sampled, true);
  assert.equal(debug.get('x-b3-flags'), '1');
  assert.equal(debug.get('x-b3-sampled'), undefined, 'debug implies accept: no x-b3-sampled beside it');
});

test('B3 multi: a decision alone, and malformed ids start a new trace (stale parent removed)', () => {
  const deny = run(['x-b3-sampled', '0'], always);
  assert.equal(deny.c.sampled, false);
  assert.equal(deny.get('x-b3-traceid'), deny.c.traceId);
  assert.equal(deny.get('x-b3-spanid'), deny.c.spanId);
  assert.equal(deny.get('x-b3-sampled'), '0');
  for (const [t, s] of [[TRACE, 'nope'], ['123', PARENT], [TRACE.toUpperCase(), PARENT], [TRACE, '0'.repeat(16)], ['', '']] as const) {
    const r = run(['x-b3-traceid', t, 'x-b3-spanid', s, 'x-b3-parentspanid', '05e3ac9a4f6e3b90']);
    assert.notEqual(r.c.traceId, TRACE);
    assert.equal(r.c.parentId, '');
    assert.equal(r.get('x-b3-traceid'), r.c.traceId);
    assert.equal(r.get('x-b3-parentspanid'), undefined);
  }
  const onlySpan = run(['x-b3-spanid', PARENT]);
  assert.equal(onlySpan.get('x-b3-traceid'), onlySpan.c.traceId, 'a missing trace id is added');
});

test('precedence: W3C, then B3 single, then B3 multi; every format that arrived carries the chosen context', () => {
  const B3T = 'a3ce929d0e0e4736a3ce929d0e0e4736';
  const r = run(['traceparent', `00-${TRACE}-${PARENT}-01`, 'b3', `${B3T}-05e3ac9a4f6e3b90-0`, 'x-b3-traceid', B3T, 'x-b3-spanid', '05e3ac9a4f6e3b90']);
  assert.equal(r.c.traceId, TRACE);
  assert.equal(r.c.formats, FORMAT_W3C | FORMAT_B3_SINGLE | FORMAT_B3_MULTI);
  assert.equal(r.get('b3'), `${TRACE}-${r.c.spanId}-1-${PARENT}`);
  assert.equal(r.get('x-b3-traceid'), TRACE);
  assert.equal(r.get('x-b3-parentspanid'), PARENT);
  const b3First = run(['b3', `${B3T}-05e3ac9a4f6e3b90-1`, 'x-b3-traceid', TRACE, 'x-b3-spanid', PARENT]);
  assert.equal(b3First.c.traceId, B3T);
  const badW3c = run(['traceparent', 'nonsense', 'x-b3-traceid', 'a3ce929d0e0e4736', 'x-b3-spanid', PARENT, 'x-b3-sampled', '1']);
  assert.equal(badW3c.c.traceId, 'a3ce929d0e0e4736');
  assert.equal(badW3c.get('traceparent'), `00-0000000000000000a3ce929d0e0e4736-${badW3c.c.spanId}-01`, '64-bit ids padded for W3C');
});

test('random headers of random bytes never throw', () => {
  const names = ['traceparent', 'tracestate', 'b3', 'x-b3-traceid', 'x-b3-spanid', 'x-b3-parentspanid', 'x-b3-sampled', 'x-b3-flags', 'x', 'b', 't', 'x-b3-', 'x-b3-x-b3-x'];
  const alphabet = '0123456789abcdefABCDEF-_dxz ';
  let seed = 12345;
  const rnd = (n: number): number => { seed = (seed * 1103515245 + 12345) & 0x7fffffff; return seed % n; };
  for (let i = 0; i < 5000; i++) {
    const h: string[] = [];
    for (let j = rnd(4); j >= 0; j--) {
      let v = '';
      for (let k = rnd(70); k > 0; k--) v += alphabet[rnd(alphabet.length)];
      h.push(names[rnd(names.length)] as string, v);
    }
    const c = new TraceContext();
    propagate(h, always, c);
    assert.match(c.spanId, HEX16);
    assert.ok(c.traceId.length === 16 || c.traceId.length === 32);
  }
});
