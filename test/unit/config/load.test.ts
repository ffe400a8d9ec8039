// Loading YAML: document indexes, empty documents, envelope checks, which kinds are handled, and
// helper value parsers (durations).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { formatIssue, loadAndCompile, parseConfigText } from '../../../src/config/index.js';
import { parseDurationNs } from '../../../src/config/validate/values.js';
import { serviceEntry } from './helpers.js';

test('document indexes count empty documents; empty documents are ignored', () => {
  const text = `---\n# just a comment\n---\n${serviceEntry('a')}---\n---\n${serviceEntry('b')}`;
  const r = parseConfigText('f.yaml', text);
  assert.deepEqual(r.issues, []);
  assert.deepEqual(r.resources.map((x) => [x.kind, x.name, x.namespace, x.doc, x.file]), [
    ['ServiceEntry', 'a', 'default', 1, 'f.yaml'],
    ['ServiceEntry', 'b', 'default', 3, 'f.yaml'],
  ]);
});

test('handled kinds need networking.istio.io v1alpha3, v1beta1 or v1; anything else is skipped with one warning', () => {
  const doc = (apiVersion: string, kind: string) => `apiVersion: ${apiVersion}\nkind: ${kind}\nmetadata: {name: x}\nspec: {}\n`;
  const text = [
    doc('networking.istio.io/v1alpha3', 'WorkloadEntry'),
    doc('networking.istio.io/v2', 'VirtualService'),
    doc('example.com/v1', 'ServiceEntry'),
    doc('networking.istio.io/v1', 'Gateway'),
    doc('v1', 'Service'),
  ].join('---\n');
  const r = parseConfigText('k.yaml', text);
  assert.deepEqual(r.resources.map((x) => x.kind), ['WorkloadEntry']);
  assert.deepEqual(r.issues.map(formatIssue), [
    'warning: k.yaml (document 1) VirtualService/x: skipped: kind VirtualService (apiVersion networking.istio.io/v2) is not handled by meshlet',
    'warning: k.yaml (document 2) ServiceEntry/x: skipped: kind ServiceEntry (apiVersion example.com/v1) is not handled by meshlet',
    'warning: k.yaml (document 3) Gateway/x: skipped: kind Gateway (apiVersion networking.istio.io/v1) is not handled by meshlet',
    'warning: k.yaml (document 4) Service/x: skipped: kind Service (apiVersion v1) is not handled by meshlet',
  ]);
});

test('envelope problems are errors; unknown top-level fields of handled kinds are warnings', () => {
  const r = parseConfigText('e.yaml', [
    'apiVersion: networking.istio.io/v1\nkind: ServiceEntry\nmetadata: {name: Bad_Name}\nspec: {}\n',
    'apiVersion: 3\nkind: ServiceEntry\nmetadata: {name: x}\n',
    'kind: ServiceEntry\nmetadata: {name: y}\n',
    'apiVersion: networking.istio.io/v1\nkind: ServiceEntry\nmetadata: {name: z}\nspec: {hosts: [z]}\nextra: 1\n',
  ].join('---\n'));
  assert.deepEqual(r.issues.map((i) => `${i.severity} ${i.doc} ${i.resource} ${i.path}`), [
    'error 0 ServiceEntry/Bad_Name metadata.name',
    'error 1 ServiceEntry/x apiVersion',
    'error 2 ServiceEntry/y apiVersion',
    'warning 3 ServiceEntry/z extra',
  ]);
  assert.deepEqual(r.resources.map((x) => x.name), ['z']);
});

test('duplicate YAML keys are syntax errors with the line', () => {
  const r = parseConfigText('d.yaml', 'apiVersion: v1\nkind: A\nkind: B\n');
  assert.equal(r.issues.length, 1);
  assert.match(formatIssue(r.issues[0]!), /^error: d\.yaml \(document 0\) <document>: YAML syntax error: Map keys must be unique at line 3, column 1$/);
});

test('loadAndCompile reports unreadable files and orders issues by file then document', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'meshlet-config-'));
  const a = join(dir, 'a.yaml');
  const b = join(dir, 'b.yaml');
  writeFileSync(a, `${serviceEntry('a')}---\nkind: Thing\napiVersion: x/v1\nmetadata: {name: t}\n`);
  writeFileSync(b, 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: cm}\n');
  const r = await loadAndCompile([b, join(dir, 'missing.yaml'), a], 3);
  assert.equal(r.snapshot, null);
  assert.deepEqual(r.issues.map((i) => [i.severity, i.file, i.doc, i.resource]), [
    ['warning', b, 0, 'ConfigMap/cm'],
    ['error', join(dir, 'missing.yaml'), 0, '<file>'],
    ['warning', a, 1, 'Thing/t'],
  ]);
});

test('durations: Go syntax, in nanoseconds', () => {
  assert.equal(parseDurationNs('1.5s'), 1.5e9);
  assert.equal(parseDurationNs('300ms'), 300e6);
  assert.equal(parseDurationNs('2m'), 120e9);
  assert.equal(parseDurationNs('1h30m'), 5400e9);
  assert.equal(parseDurationNs('.5s'), 0.5e9);
  for (const bad of ['', '5', 's', '1.5 s', '-1s', '1d', '1s2']) assert.equal(parseDurationNs(bad), null, bad);
});
