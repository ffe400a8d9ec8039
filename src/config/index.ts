// The config layer's front door: files or texts → issues (errors and warnings) and, when there
// is no error, a Snapshot. Everything else in src/config is reached through here.
import { compileSnapshot } from './compile.js';
import type { ConfigIssue } from './issues.js';
import { loadConfigFiles, parseConfigText, type Loaded } from './load.js';
import { configTooLarge, MAX_CONFIG_BYTES } from './read-files.js';
import type { Resource } from './resource.js';
import type { Snapshot } from './snapshot.js';
import { validateResources } from './validate/index.js';

export { ConfigError, formatIssue, type ConfigIssue, type Severity } from './issues.js';
export { compileSnapshot } from './compile.js';
export { loadConfigFiles, parseConfigText, type Loaded } from './load.js';
export { ParseMemo } from './parse-memo.js';
export { MAX_CONFIG_BYTES, readConfigFiles } from './read-files.js';
export { validateResources } from './validate/index.js';
export type { Resource, ResourceKind } from './resource.js';
export type * from './snapshot.js';

export interface CompileResult {
  /** null when any issue is an error */
  snapshot: Snapshot | null;
  /** errors and warnings, grouped by file (in input order) and document */
  issues: ConfigIssue[];
  /** every handled resource read (valid or not) */
  resources: Resource[];
}

export async function loadAndCompile(paths: readonly string[], generation: number): Promise<CompileResult> {
  return finish(await loadConfigFiles(paths), paths, generation);
}

/**
 * Same from in-memory texts (e.g. resources applied over the control socket, file `<apply>`). Texts
 * above MAX_CONFIG_BYTES together are refused before they are parsed. `parse` may reuse earlier
 * results of unchanged texts (ParseMemo).
 */
export function compileTexts(files: readonly { file: string; text: string }[], generation: number, parse: (file: string, text: string) => Loaded = parseConfigText): CompileResult {
  const bytes = files.reduce((sum, f) => sum + Buffer.byteLength(f.text), 0);
  if (bytes > MAX_CONFIG_BYTES) {
    const issue: ConfigIssue = { severity: 'error', file: files.length === 1 ? (files[0] as { file: string }).file : '<config>', doc: 0, resource: '<file>', path: '', message: configTooLarge(bytes) };
    return { snapshot: null, issues: [issue], resources: [] };
  }
  const loaded: Loaded = { resources: [], issues: [] };
  for (const f of files) {
    const one = parse(f.file, f.text);
    loaded.resources.push(...one.resources);
    loaded.issues.push(...one.issues);
  }
  return finish(loaded, files.map((f) => f.file), generation);
}

function finish(loaded: Loaded, fileOrder: readonly string[], generation: number): CompileResult {
  const issues = [...loaded.issues, ...validateResources(loaded.resources)];
  const rank = (i: ConfigIssue) => fileOrder.indexOf(i.file);
  issues.sort((a, b) => rank(a) - rank(b) || a.doc - b.doc); // stable: order inside a document is kept
  const failed = issues.some((i) => i.severity === 'error');
  return { snapshot: failed ? null : compileSnapshot(loaded.resources, generation), issues, resources: loaded.resources };
}
