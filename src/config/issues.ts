// Config problems: every error and warning names the file, the document index, `Kind/name`,
// the field path and the reason, so an operator can find it without reading meshlet's code.

export type Severity = 'error' | 'warning';

export interface ConfigIssue {
  severity: Severity;
  /** file name as given (or `<apply>` for resources received over the control socket) */
  file: string;
  /** 0-based index of the YAML document in the file */
  doc: number;
  /** `Kind/name` (or `Kind/<unnamed>`, `<document>` when not even the kind is readable) */
  resource: string;
  /** field path, e.g. `spec.http[0].route[1].weight`; '' for the whole document */
  path: string;
  message: string;
}

export function formatIssue(i: ConfigIssue): string {
  const where = i.path === '' ? '' : ` ${i.path}:`;
  return `${i.severity}: ${i.file} (document ${i.doc}) ${i.resource}:${where} ${i.message}`;
}

export class ConfigError extends Error {
  readonly issues: ConfigIssue[];
  constructor(issues: ConfigIssue[]) {
    super(`invalid configuration (${issues.length} error${issues.length === 1 ? '' : 's'}):\n` + issues.map(formatIssue).join('\n'));
    this.name = 'ConfigError';
    this.issues = issues;
  }
}
