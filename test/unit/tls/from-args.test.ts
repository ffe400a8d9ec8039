// identitySourceFromArgs: which source a flag set gives, and clear errors for incomplete sets.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { parseArgs } from 'node:util';
import { CaClientIdentitySource } from '../../../src/tls/identity/ca-client-source.js';
import { FileIdentitySource } from '../../../src/tls/identity/file-source.js';
import { IDENTITY_ARG_OPTIONS, identitySourceFromArgs } from '../../../src/tls/identity/from-args.js';
import { captureLog, tmpDir } from './helpers.js';

const { log } = captureLog();
const ID = 'spiffe://cluster.local/ns/default/sa/web';
const args = (argv: string[]) => parseArgs({ args: argv, options: IDENTITY_ARG_OPTIONS, strict: true }).values;

test('no identity flag: null (plain text)', () => {
  assert.equal(identitySourceFromArgs(args([]), log), null);
});

test('--identity-dir gives a FileIdentitySource; --ca-url … a CaClientIdentitySource', () => {
  assert.ok(identitySourceFromArgs(args(['--identity-dir', '/etc/meshlet/id']), log) instanceof FileIdentitySource);
  assert.ok(identitySourceFromArgs(args(['--ca-url', 'https://127.0.0.1:15012', '--ca-token', 'tok', '--identity', ID]), log) instanceof CaClientIdentitySource);
});

test('incomplete or mixed flag sets are refused with what is missing', () => {
  const refuse = (argv: string[], why: RegExp): void => assert.throws(() => identitySourceFromArgs(args(argv), log), why, argv.join(' '));
  refuse(['--identity-dir', 'd', '--ca-url', 'https://x:1'], /--identity-dir cannot be combined with --ca-url/);
  refuse(['--ca-url', 'https://x:1'], /incomplete CA identity flags: missing --ca-token and --identity/);
  refuse(['--ca-url', 'https://x:1', '--ca-token', 't'], /missing --identity \(/);
  refuse(['--ca-token', 't', '--identity', ID], /missing --ca-url \(/);
  refuse(['--ca-root', 'ca.pem'], /missing --ca-url and --ca-token and --identity/);
  refuse(['--ca-url', 'http://x:1', '--ca-token', 't', '--identity', ID], /must be https/);
  refuse(['--ca-url', 'https://x:1', '--ca-token', 't', '--identity', 'web'], /not a SPIFFE ID/);
  refuse(['--ca-url', 'https://x:1', '--ca-token', 't', '--identity', ID, '--ca-root', '/nonexistent/ca.pem'], /CA trust bundle \/nonexistent\/ca\.pem: ENOENT/);
  const notPem = path.join(tmpDir('args'), 'ca.pem');
  writeFileSync(notPem, 'hello');
  refuse(['--ca-url', 'https://x:1', '--ca-token', 't', '--identity', ID, '--ca-root', notPem], /no PEM certificate/);
});
