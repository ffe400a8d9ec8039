// bench/openloop/openloop.c end to end (compiled on demand like the peer bench does): it completes
// every scheduled request over keep-alive connections, parses Content-Length and chunked
// responses, and counts non-2xx answers as errors. Counts only: no timing is asserted.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fixedRateTool } from '../../../bench/openloop.js';
import { hasCommand } from '../../../bench/proc.js';
import { httpUpstream } from '../../helpers/upstream.js';
import { REPO_ROOT } from '../../helpers/meshlet.js';

const NO_CC = ['cc', 'gcc', 'clang'].some(hasCommand) ? false : 'no C compiler here';

async function run(handler: Parameters<typeof httpUpstream>[0]): Promise<Awaited<ReturnType<Awaited<ReturnType<typeof fixedRateTool>>['run']>>> {
  const tool = await fixedRateTool(REPO_ROOT);
  assert.equal(tool.name, 'openloop');
  const up = await httpUpstream(handler);
  try {
    return await tool.run({ port: up.port, host: 'openloop-test', connections: 4, durationS: 1, rate: 200 });
  } finally {
    await up.close();
  }
}

test('openloop completes every scheduled request (Content-Length bodies)', { skip: NO_CC }, async () => {
  const r = await run((req, res) => {
    assert.equal(req.headers.host, 'openloop-test');
    res.writeHead(200, { 'content-length': 5 });
    res.end('hello');
  });
  assert.equal(r.completed, 200);
  assert.equal(r.errors, 0);
  assert.equal(r.unsent, 0);
  assert.ok(r.p50Ms > 0 && r.p50Ms <= r.p99Ms && r.p99Ms <= r.p999Ms);
});

test('openloop parses chunked bodies and counts non-2xx answers as errors', { skip: NO_CC }, async () => {
  const chunked = await run((_req, res) => {
    res.write('first chunk, ');
    setImmediate(() => res.end('and the last one'));
  });
  assert.equal(chunked.completed, 200);
  assert.equal(chunked.errors, 0);
  const failing = await run((_req, res) => {
    res.writeHead(503, { 'content-length': 0 });
    res.end();
  });
  assert.equal(failing.completed, 200);
  assert.equal(failing.errors, 200);
});
