// The running configuration on the control thread: its source texts, resources, snapshot and
// generation. `plan` validates and compiles a candidate set of files without touching the running
// one; `commit` makes a plan current. An apply replaces the whole set (like restarting with those
// files), so the diff can name resources added, changed and removed.
import { compileTexts, formatIssue, type ConfigIssue } from '../config/index.js';
import { resourceKey, type Resource } from '../config/resource.js';
import type { Snapshot } from '../config/snapshot.js';

export interface SourceFile {
  file: string;
  text: string;
}

export interface ConfigDiff {
  added: string[];
  changed: string[];
  removed: string[];
}

export type Plan =
  | { ok: true; snapshot: Snapshot; resources: Resource[]; files: SourceFile[]; diff: ConfigDiff; warnings: ConfigIssue[] }
  | { ok: false; errors: ConfigIssue[]; warnings: ConfigIssue[] };

export class ConfigStore {
  generation = 0;
  snapshot: Snapshot | null = null;
  resources: Resource[] = [];
  files: SourceFile[] = [];

  plan(files: SourceFile[]): Plan {
    const { snapshot, issues, resources } = compileTexts(files, this.generation + 1);
    const warnings = issues.filter((i) => i.severity === 'warning');
    if (snapshot === null) return { ok: false, errors: issues.filter((i) => i.severity === 'error'), warnings };
    return { ok: true, snapshot, resources, files, diff: diffResources(this.resources, resources), warnings };
  }

  commit(plan: Extract<Plan, { ok: true }>): void {
    this.generation = plan.snapshot.generation;
    this.snapshot = plan.snapshot;
    this.resources = plan.resources;
    this.files = plan.files;
  }
}

export function diffResources(before: readonly Resource[], after: readonly Resource[]): ConfigDiff {
  const old = new Map(before.map((r) => [resourceKey(r), JSON.stringify(r.spec)]));
  const diff: ConfigDiff = { added: [], changed: [], removed: [] };
  const seen = new Set<string>();
  for (const r of after) {
    const key = resourceKey(r);
    seen.add(key);
    const prev = old.get(key);
    if (prev === undefined) diff.added.push(key);
    else if (prev !== JSON.stringify(r.spec)) diff.changed.push(key);
  }
  for (const key of old.keys()) if (!seen.has(key)) diff.removed.push(key);
  return diff;
}

export function describeIssues(issues: readonly ConfigIssue[]): string[] {
  return issues.map(formatIssue);
}
