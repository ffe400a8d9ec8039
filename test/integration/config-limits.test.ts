// Config size: a config above 4 MiB (all files together) is refused with one line — at start, by
// `meshlet apply` before it sends anything, and by the control socket before parsing — while the
// running config keeps serving. (A 50 MB config was accepted at 1.8 GB RSS, and `meshlet config`
// then died with an uncaught FrameError stack trace: its reply did not fit a frame.) A reply a
// client cannot read is an error message, never a stack trace.
import assert from 'node:assert/strict';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { defaultControlSocket } from '../../src/control/socket-path.js';
import { controlRequest } from '../../src/control/control-client.js';
import { runCli, serviceEntryYaml, sidecarYaml, startMeshlet, writeConfig, type Meshlet } from '../helpers/meshlet.js';
import { freePort } from '../helpers/ports.js';

const LIMIT = 4 * 1024 * 1024;
let m: Meshlet;
let base: string;

/** `yaml` padded with a comment to exactly `bytes` bytes. */
function padded(yaml: string, bytes: number): string {
  const pad = bytes - Buffer.byteLength(yaml) - 2;
  return `${yaml}#${'x'.repeat(pad)}\n`;
}

before(async () => {
  const port = await freePort();
  base = sidecarYaml(port) + serviceEntryYaml('app', [{ port: 9 }]);
  m = await startMeshlet(base, { noSidecar: true, port });
});

after(async () => {
  await m?.stop();
});

test('meshlet run refuses a config above the limit with one line, not a stack trace', async () => {
  const big = writeConfig(padded(base, LIMIT + 1));
  const r = await runCli(['run', '-c', big, '--admin', `127.0.0.1:${await freePort()}`, '--control-socket', path.join(path.dirname(big), 'c.sock')]);
  assert.equal(r.code, 1);
  assert.equal(r.stderr, `meshlet: ${big}: config is ${LIMIT + 1} bytes, above meshlet's limit of ${LIMIT} bytes (4 MiB) for all config files together\n`);
});

test('the limit holds for all files together, and for a file of unknown size (/dev/zero)', async () => {
  const half = writeConfig(padded(base, LIMIT / 2 + 1));
  const r = await runCli(['run', '-c', half, '-c', half, '--admin', `127.0.0.1:${await freePort()}`]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, new RegExp(`^meshlet: ${half}: config is ${LIMIT + 2} bytes, above meshlet's limit`));
  const zero = await runCli(['run', '-c', '/dev/zero', '--admin', `127.0.0.1:${await freePort()}`]);
  assert.equal(zero.code, 1);
  assert.equal(zero.stderr, `meshlet: /dev/zero: config is larger than meshlet's limit of ${LIMIT} bytes (4 MiB) for all config files together\n`);
});

test('meshlet apply refuses a file above the limit before sending it; the running config is kept', async () => {
  const before = await controlRequest(defaultControlSocket(m.adminPort), { op: 'ping' });
  const big = writeConfig(padded(base, LIMIT + 1));
  const r = await runCli(['apply', '-f', big, '--admin-port', String(m.adminPort)]);
  assert.equal(r.code, 1);
  assert.equal(r.stderr, `meshlet: ${big}: config is ${LIMIT + 1} bytes, above meshlet's limit of ${LIMIT} bytes (4 MiB) for all config files together\n`);
  assert.equal((await controlRequest(defaultControlSocket(m.adminPort), { op: 'ping' })).generation, before.generation);
});

test('an apply over the socket above the limit is refused before parsing; exactly the limit is accepted', async () => {
  const socket = defaultControlSocket(m.adminPort);
  const refused = await controlRequest(socket, { op: 'apply', yaml: padded(base, LIMIT + 1) });
  assert.equal(refused.ok, false);
  assert.deepEqual(refused.errors, [`error: <apply> (document 0) <file>: config is ${LIMIT + 1} bytes, above meshlet's limit of ${LIMIT} bytes (4 MiB) for all config files together`]);
  const accepted = await controlRequest(socket, { op: 'apply', yaml: padded(base, LIMIT) });
  assert.equal(accepted.ok, true, String(accepted.errors));
  // and `meshlet config` shows it back: the reply holds the source files, within a frame
  const shown = await runCli(['config', '--admin-port', String(m.adminPort)]);
  assert.equal(shown.code, 0, shown.stderr);
  assert.ok(shown.stdout.length > LIMIT, `meshlet config printed ${shown.stdout.length} bytes`);
});

test('a reply larger than the client reads is an error line from the CLI, not an uncaught FrameError', async () => {
  const sock = path.join(os.tmpdir(), `meshlet-fake-${process.pid}.sock`);
  // a real server on the socket answering any request with a frame header announcing 64 MiB
  const fake = net.createServer((s) => { s.on('data', () => { s.write(Buffer.from([4, 0, 0, 0])); }); s.on('error', () => undefined); });
  await new Promise<void>((resolve) => fake.listen(sock, resolve));
  try {
    await assert.rejects(controlRequest(sock, { op: 'get-config' }), /^Error: bad reply from meshlet at .*: frame of 67108864 bytes exceeds the 16777216-byte limit$/);
    const r = await runCli(['config', '--socket', sock]);
    assert.equal(r.code, 1);
    assert.equal(r.stderr, `meshlet: bad reply from meshlet at ${sock}: frame of 67108864 bytes exceeds the 16777216-byte limit\n`);
  } finally {
    fake.close();
  }
});

test('a file that cannot be read is one line too', async () => {
  const missing = path.join(os.tmpdir(), `meshlet-missing-${process.pid}.yaml`);
  const r = await runCli(['apply', '-f', missing, '--admin-port', String(m.adminPort)]);
  assert.equal(r.code, 1);
  assert.equal(r.stderr.split('\n').length, 2, r.stderr);
  assert.match(r.stderr, /^meshlet: ENOENT: no such file or directory/);
});
