// Re-exports of the config test helpers plus a readable dump of a result's issues.
import { formatIssue, type CompileResult } from '../../../src/config/index.js';
export { compileYaml, errors, expectError } from './helpers.js';

export function formatIssueLines(r: CompileResult): string {
  return r.issues.map(formatIssue).join('\n');
}
