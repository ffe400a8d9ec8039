// Join tokens are passed on command lines (`meshlet run --ca-token TOKEN`): one starting with '-'
// would be read as an option (it made a mesh-identity test fail once in a full suite).
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { parseArgs } from 'node:util';
import { createToken } from '../../../src/tls/ca/tokens.js';

test('join tokens never start with "-", so `--ca-token TOKEN` always parses (500 tokens; 1 in 64 did before)', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'meshlet-tokens-'));
  try {
    for (let i = 0; i < 500; i++) {
      const { token } = createToken(dir, 'spiffe://cluster.local/ns/default/sa/web', 60_000);
      assert.match(token, /^[A-Za-z0-9_][A-Za-z0-9_-]{42}$/);
      const { values } = parseArgs({ args: ['--ca-token', token], options: { 'ca-token': { type: 'string' } }, strict: true });
      assert.equal(values['ca-token'], token);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
