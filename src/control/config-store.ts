// The running configuration on the control thread: its source texts, resources, snapshot and
// generation. `plan` validates and compiles a candidate set of files without touching the running
// one; `commit` makes a plan current. An apply replaces the whole set (like restarting with those
// files), so the diff can name resources added, changed and removed. With a mesh store, the set is
// two layers: the sidecar's local files and the store's resources (src/store/layer.ts); a control
// socket apply replaces the local layer, a store change the store layer.
import { compileTexts, formatIssue, ParseMemo, type ConfigIssue } from '../config/index.js';
import { resourceKey, type Resource } from '../config/resource.js';
import type { Snapshot } from '../config/snapshot.js';
import { layerSources, type StoreLayer } from '../store/layer.js';

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
  | { ok: true; snapshot: Snapshot; resources: Resource[]; files: SourceFile[]; diff: ConfigDiff; warnings: ConfigIssue[]; local: SourceFile[]; layer: StoreLayer | null }
  | { ok: false; errors: ConfigIssue[]; warnings: ConfigIssue[] };

export class ConfigStore {
  generation = 0;
  snapshot: Snapshot | null = null;
  resources: Resource[] = [];
  /** every file of the running set (local, then the store's) */
  files: SourceFile[] = [];
  /** the sidecar's own files (-c, control socket applies) */
  local: SourceFile[] = [];
  /** the store's resources in the running set; null without a store */
  layer: StoreLayer | null = null;
  /** parse results of unchanged texts are reused from one plan to the next */
  private readonly memo = new ParseMemo();

  /**
   * Validates and compiles `local` layered over `layer` (default: the running layers). The store
   * revision of the layer becomes the snapshot's generation when it is ahead of the local count, so
   * a sidecar fed only by the store serves the store's revision as its generation.
   */
  plan(local: SourceFile[], layer: StoreLayer | null = this.layer): Plan {
    const { files, warnings: layering } = layerSources(local, layer, this.memo.parse);
    const generation = Math.max(this.generation + 1, layer?.revision ?? 0);
    const { snapshot, issues, resources } = compileTexts(files, generation, this.memo.parse);
    this.memo.retain([...files.map((f) => f.file), ...this.files.map((f) => f.file)]);
    const warnings = [...layering, ...issues.filter((i) => i.severity === 'warning')];
    if (snapshot === null) return { ok: false, errors: issues.filter((i) => i.severity === 'error'), warnings };
    return { ok: true, snapshot, resources, files, diff: diffResources(this.resources, resources), warnings, local, layer };
  }

  commit(plan: Extract<Plan, { ok: true }>): void {
    this.generation = plan.snapshot.generation;
    this.snapshot = plan.snapshot;
    this.resources = plan.resources;
    this.files = plan.files;
    this.local = plan.local;
    this.layer = plan.layer;
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
