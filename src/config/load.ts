// Multi-document YAML → Resources. Checks each document's envelope (apiVersion, kind,
// metadata.name); Istio networking kinds meshlet handles become Resources, any other kind is
// skipped with one warning. YAML syntax errors are reported with their line.
import { parseAllDocuments } from 'yaml';
import type { ConfigIssue } from './issues.js';
import { isHandled, type Resource } from './resource.js';
import { Checker, describe, isMap } from './validate/checker.js';
import { Fields } from './validate/fields.js';
import { isDnsLabel, isDnsSubdomain } from './validate/values.js';
import { ConfigTooLargeError, MAX_CONFIG_BYTES, readConfigFile } from './read-files.js';

export interface Loaded {
  resources: Resource[];
  issues: ConfigIssue[];
}

const TOP_FIELDS = ['apiVersion', 'kind', 'metadata', 'spec', 'status'];

export function parseConfigText(file: string, text: string): Loaded {
  const resources: Resource[] = [];
  const issues: ConfigIssue[] = [];
  const docs = parseAllDocuments(text, { merge: true, prettyErrors: true });
  docs.forEach((doc, index) => {
    const ck = new Checker({ file, doc: index, resource: '<document>' }, issues);
    for (const w of doc.warnings) ck.warn('', `YAML: ${firstLine(w.message)}`);
    if (doc.errors.length > 0) {
      for (const e of doc.errors) ck.error('', `YAML syntax error: ${firstLine(e.message)}`);
      return;
    }
    let value: unknown;
    try {
      value = doc.toJS({ maxAliasCount: 100 });
    } catch (e) {
      ck.error('', `YAML error: ${(e as Error).message}`);
      return;
    }
    if (value === null || value === undefined) return; // empty document
    const r = readEnvelope(file, index, value, issues);
    if (r !== null) resources.push(r);
  });
  return { resources, issues };
}

/** "Map keys must be unique at line 9, column 1" (the yaml package adds a code excerpt after a colon). */
function firstLine(message: string): string {
  return (message.split('\n')[0] ?? '').replace(/:$/, '');
}

function readEnvelope(file: string, doc: number, value: unknown, issues: ConfigIssue[]): Resource | null {
  const where = { file, doc, resource: '<document>' };
  if (!isMap(value)) {
    new Checker(where, issues).error('', `a document must be a map with apiVersion, kind and metadata, got ${describe(value)}`);
    return null;
  }
  const kind = typeof value['kind'] === 'string' && value['kind'] !== '' ? value['kind'] : null;
  const meta = value['metadata'];
  const rawName = isMap(meta) ? meta['name'] : undefined;
  const label = typeof rawName === 'string' && rawName !== '' ? rawName : '<unnamed>';
  const ck = new Checker({ ...where, resource: kind === null ? '<document>' : `${kind}/${label}` }, issues);
  // Unknown top-level fields are only worth a warning for kinds meshlet reads.
  const top = Fields.of(ck, value, '', kind !== null && isHandled(kind, String(value['apiVersion'])) ? TOP_FIELDS : Object.keys(value));
  if (top === null) return null;
  const apiVersion = top.string('apiVersion', true);
  top.string('kind', true);
  const m = top.object('metadata', Object.keys(isMap(meta) ? meta : {}), true);
  const name = m?.string('name', true) ?? null;
  const namespace = m?.string('namespace') ?? 'default';
  if (ck.errors > 0 || kind === null || apiVersion === null || name === null) return null;
  if (!isHandled(kind, apiVersion)) {
    ck.warn('', `skipped: kind ${kind} (apiVersion ${apiVersion}) is not handled by meshlet`);
    return null;
  }
  if (!isDnsSubdomain(name)) ck.error('metadata.name', `invalid name "${name}" (lowercase letters, digits, '-' and '.')`);
  if (!isDnsLabel(namespace)) ck.error('metadata.namespace', `invalid namespace "${namespace}" (lowercase letters, digits and '-')`);
  const annotations = m?.stringMap('annotations') ?? {};
  if (ck.errors > 0) return null;
  return { kind, apiVersion, name, namespace, annotations, spec: value['spec'], file, doc };
}

/** Reads and parses every file; unreadable files, and files past the size limit, are reported as errors. */
export async function loadConfigFiles(paths: readonly string[]): Promise<Loaded> {
  const out: Loaded = { resources: [], issues: [] };
  let left = MAX_CONFIG_BYTES;
  for (const file of paths) {
    let text: string;
    try {
      text = await readConfigFile(file, left);
    } catch (e) {
      const message = e instanceof ConfigTooLargeError ? e.reason : `cannot read: ${(e as Error).message}`;
      out.issues.push({ severity: 'error', file, doc: 0, resource: '<file>', path: '', message });
      continue;
    }
    left -= Buffer.byteLength(text);
    const loaded = parseConfigText(file, text);
    out.resources.push(...loaded.resources);
    out.issues.push(...loaded.issues);
  }
  return out;
}
