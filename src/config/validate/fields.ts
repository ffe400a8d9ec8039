// Type-checked reading of one YAML mapping: wrong types, missing required fields and unknown
// keys are reported (never thrown), so validators collect every problem in one pass.
import { checkNumber, describe, isMap, keyPath, type Checker, type Entry, type Item, type NumberRule, type Raw, type StringItem } from './checker.js';

export class Fields {
  private constructor(
    readonly ck: Checker,
    readonly path: string,
    readonly raw: Raw,
  ) {}

  /**
   * Reads `value` as a mapping whose keys are `known`; unknown keys get a warning. Returns null
   * (after an error) when it is not a mapping, or silently when absent and not required.
   */
  static of(ck: Checker, value: unknown, path: string, known: readonly string[], required = false): Fields | null {
    if (value === undefined || value === null) {
      if (required) ck.error(path, path.endsWith(']') ? 'entry must not be null' : 'required field is missing');
      return null;
    }
    if (!isMap(value)) {
      ck.error(path, `expected a map, got ${describe(value)}`);
      return null;
    }
    for (const key of Object.keys(value)) {
      if (!known.includes(key)) ck.warn(keyPath(path, key), 'unknown field, ignored');
    }
    return new Fields(ck, path, value);
  }

  /** An empty mapping at `path` (stands in for an absent or malformed block so checks still run). */
  static empty(ck: Checker, path: string): Fields {
    return new Fields(ck, path, {});
  }

  at(key: string): string {
    return keyPath(this.path, key);
  }

  has(key: string): boolean {
    const v = this.raw[key];
    return v !== undefined && v !== null;
  }

  get(key: string): unknown {
    return this.raw[key];
  }

  /** Warns about known Istio fields that meshlet does not implement. */
  unsupported(keys: readonly string[], why = 'not supported by meshlet, ignored'): void {
    for (const k of keys) if (this.has(k)) this.ck.warn(this.at(k), why);
  }

  private missing(key: string, required: boolean): boolean {
    if (this.has(key)) return false;
    if (required) this.ck.error(this.at(key), 'required field is missing');
    return true;
  }

  string(key: string, required = false): string | null {
    if (this.missing(key, required)) return null;
    const v = this.raw[key];
    if (typeof v !== 'string') {
      this.ck.error(this.at(key), `expected a string, got ${describe(v)}`);
      return null;
    }
    if (required && v === '') {
      this.ck.error(this.at(key), 'must not be empty');
      return null;
    }
    return v;
  }

  number(key: string, rule: NumberRule = {}): number | null {
    if (this.missing(key, rule.required ?? false)) return null;
    return checkNumber(this.ck, this.raw[key], this.at(key), rule);
  }

  bool(key: string): boolean | null {
    if (this.missing(key, false)) return null;
    const v = this.raw[key];
    if (typeof v !== 'boolean') {
      this.ck.error(this.at(key), `expected true or false, got ${describe(v)}`);
      return null;
    }
    return v;
  }

  object(key: string, known: readonly string[], required = false): Fields | null {
    return Fields.of(this.ck, this.raw[key], this.at(key), known, required);
  }

  /** A list's items with their paths; null when absent (error when required or not a list). */
  list(key: string, required = false): Item[] | null {
    if (this.missing(key, required)) return null;
    const v = this.raw[key];
    const path = this.at(key);
    if (!Array.isArray(v)) {
      this.ck.error(path, `expected a list, got ${describe(v)}`);
      return null;
    }
    if (required && v.length === 0) this.ck.error(path, 'must have at least one entry');
    return v.map((value, i) => ({ value, path: `${path}[${i}]` }));
  }

  /** A list of strings (non-strings reported and dropped). */
  strings(key: string, required = false): StringItem[] {
    const out: StringItem[] = [];
    for (const item of this.list(key, required) ?? []) {
      if (typeof item.value === 'string' && item.value !== '') out.push({ value: item.value, path: item.path });
      else this.ck.error(item.path, `expected a non-empty string, got ${describe(item.value)}`);
    }
    return out;
  }

  /** A mapping's entries with their paths; null when absent or not a mapping. */
  entries(key: string): Entry[] | null {
    if (this.missing(key, false)) return null;
    const v = this.raw[key];
    const path = this.at(key);
    if (!isMap(v)) {
      this.ck.error(path, `expected a map, got ${describe(v)}`);
      return null;
    }
    return Object.entries(v).map(([k, value]) => ({ key: k, value, path: keyPath(path, k) }));
  }

  /** A map of string → string (e.g. labels, header values); bad values reported and dropped. */
  stringMap(key: string): Record<string, string> | null {
    const entries = this.entries(key);
    if (entries === null) return null;
    const out: Record<string, string> = {};
    for (const e of entries) {
      if (typeof e.value === 'string') out[e.key] = e.value;
      else this.ck.error(e.path, `expected a string, got ${describe(e.value)}`);
    }
    return out;
  }
}
