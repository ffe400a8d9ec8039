// Issue recording for one resource (`Checker`) and the primitives every validator shares: value
// descriptions for type errors, field-path building, and the number check.
import type { ConfigIssue } from '../issues.js';

export interface Where {
  file: string;
  doc: number;
  resource: string;
}

export class Checker {
  errors = 0;
  constructor(
    readonly where: Where,
    private readonly sink: ConfigIssue[],
  ) {}

  error(path: string, message: string): void {
    this.errors++;
    this.sink.push({ severity: 'error', ...this.where, path, message });
  }

  warn(path: string, message: string): void {
    this.sink.push({ severity: 'warning', ...this.where, path, message });
  }
}

export interface Item {
  value: unknown;
  path: string;
}

export interface StringItem {
  value: string;
  path: string;
}

export interface Entry extends Item {
  key: string;
}

export type Raw = Record<string, unknown>;

export function isMap(v: unknown): v is Raw {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Uint8Array);
}

/** "a string ("x")", "a number (5)", "a list", "a map", … for type errors. */
export function describe(v: unknown): string {
  if (v === null || v === undefined) return 'nothing';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'string') return `a string (${JSON.stringify(v.length > 40 ? v.slice(0, 40) + '…' : v)})`;
  if (typeof v === 'number' || typeof v === 'boolean') return `a ${typeof v} (${String(v)})`;
  if (isMap(v)) return 'a map';
  return `a ${typeof v}`;
}

/** `base.key`, or `base["key"]` when the key is not a plain identifier (label keys, odd names). */
export function keyPath(base: string, key: string): string {
  const k = /^[A-Za-z0-9_-]+$/.test(key) ? `.${key}` : `[${JSON.stringify(key)}]`;
  return base === '' ? k.replace(/^\./, '') : base + k;
}

export interface NumberRule {
  required?: boolean;
  integer?: boolean;
  min?: number;
  max?: number;
}

export function checkNumber(ck: Checker, v: unknown, path: string, rule: NumberRule): number | null {
  const what = rule.integer ? 'an integer' : 'a number';
  if (typeof v !== 'number' || !Number.isFinite(v)) {
    ck.error(path, `expected ${what}, got ${describe(v)}`);
    return null;
  }
  if (rule.integer && !Number.isInteger(v)) {
    ck.error(path, `expected an integer, got ${v}`);
    return null;
  }
  const low = rule.min !== undefined && v < rule.min;
  const high = rule.max !== undefined && v > rule.max;
  if (low || high) {
    const range = rule.max === undefined ? `>= ${rule.min}` : rule.min === undefined ? `<= ${rule.max}` : `in ${rule.min}..${rule.max}`;
    ck.error(path, `must be ${range}, got ${v}`);
    return null;
  }
  return v;
}
