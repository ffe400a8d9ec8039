// Shared test helpers for the config layer: repo-relative fixture paths (tests run from dist/),
// compiling inline YAML, and finding issues by severity and field path.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { compileTexts, formatIssue, type CompileResult, type ConfigIssue } from '../../../src/config/index.js';

/** The directory holding package.json, found by walking up from this (compiled) file. */
export function repoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json'))) {
    const up = dirname(dir);
    if (up === dir) throw new Error('package.json not found above ' + fileURLToPath(import.meta.url));
    dir = up;
  }
  return dir;
}

export function fixture(...parts: string[]): string {
  return join(repoRoot(), 'test', 'fixtures', ...parts);
}

export const FILE = 'test.yaml';

export function compileYaml(text: string): CompileResult {
  return compileTexts([{ file: FILE, text }], 1);
}

export function errors(r: CompileResult): ConfigIssue[] {
  return r.issues.filter((i) => i.severity === 'error');
}

export function warnings(r: CompileResult): ConfigIssue[] {
  return r.issues.filter((i) => i.severity === 'warning');
}

/** Asserts that compiling `text` fails with an error at exactly `path` on `resource` in document `doc`; returns its formatted line. */
export function expectError(text: string, path: string, resource: string, doc: number): string {
  const r = compileYaml(text);
  assert.equal(r.snapshot, null, 'an invalid config must not produce a snapshot');
  const hit = errors(r).find((i) => i.path === path);
  assert.ok(hit, `no error at ${path}; got:\n${r.issues.map(formatIssue).join('\n')}`);
  const line = formatIssue(hit);
  assert.ok(line.includes(path), line);
  assert.ok(line.includes(resource), line);
  assert.ok(line.includes(`(document ${doc})`), line);
  assert.ok(line.startsWith(`error: ${FILE} `), line);
  return line;
}

/** A minimal valid ServiceEntry for host `name` (document helper for inline configs). */
export function serviceEntry(name: string, extra = ''): string {
  return `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata:
  name: ${name}
spec:
  hosts: [${name}]
  resolution: STATIC
  ports: [{number: 80, name: http, protocol: HTTP}]
  endpoints: [{address: 10.1.0.1}]
${extra}`;
}

/** A VirtualService named `name` for host `host` whose single http rule is `rule` (YAML, indented 4). */
export function virtualService(name: string, rule: string, host = 'svc'): string {
  return `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: ${name}
spec:
  hosts: [${host}]
  http:
  - ${rule.trim().replace(/\n/g, '\n    ')}
`;
}
