// Status lines: the reason phrases meshlet writes are node:http's, code for code.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { STATUS_CODES } from 'node:http';
import { REASONS, statusLine } from '../../../src/http/status-lines.js';

test("the reason table is node:http's STATUS_CODES, no more and no less", () => {
  assert.deepEqual({ ...REASONS }, { ...STATUS_CODES });
});

test('status lines: a known code with its reason, an unknown one in 100..599 named by number, outside that "Unknown"', () => {
  assert.equal(statusLine(200), '200 OK');
  assert.equal(statusLine(418), "418 I'm a Teapot");
  assert.equal(statusLine(599), '599 Status 599');
  assert.equal(statusLine(600), '600 Unknown');
});
