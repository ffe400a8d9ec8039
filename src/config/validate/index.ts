// Validation entry point: every resource's own checks, then cross-resource conflicts and
// references. Returns all issues at once; any error means the config must not be applied.
import { buildCatalog } from '../catalog.js';
import type { ConfigIssue } from '../issues.js';
import type { Resource } from '../resource.js';
import { parseResources } from './parse.js';
import { checkReferences } from './references.js';

export function validateResources(resources: readonly Resource[]): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  checkReferences(buildCatalog(parseResources(resources, issues)));
  return issues;
}
