// Istio `headers: {request|response: {set, add, remove}}`, used both on an http rule and on each
// route destination. Names are checked as HTTP tokens and lower-cased; values must be printable
// ASCII (wire-text.ts), a host value a valid authority.
import type { HeaderOpsSpec } from '../snapshot.js';
import { keyPath } from './checker.js';
import type { Fields } from './fields.js';
import { isToken } from './values.js';
import { authorityProblem, headerValueProblem } from './wire-text.js';

export interface HeadersModel {
  request: HeaderOpsSpec | null;
  response: HeaderOpsSpec | null;
}

const OPS = ['set', 'add', 'remove'];

/** `headers` block at `f.key`; null when absent. */
export function readHeaders(f: Fields, key: string): HeadersModel | null {
  const h = f.object(key, ['request', 'response']);
  if (h === null) return null;
  return { request: readOps(h, 'request'), response: readOps(h, 'response') };
}

function readOps(h: Fields, side: 'request' | 'response'): HeaderOpsSpec | null {
  const f = h.object(side, OPS);
  if (f === null) return null;
  const ops: HeaderOpsSpec = { set: [], add: [], remove: [] };
  for (const op of ['set', 'add'] as const) {
    const values = f.stringMap(op) ?? {};
    for (const [name, value] of Object.entries(values)) {
      const path = keyPath(f.at(op), name);
      const ok = checkName(f, path, name, side === 'request');
      // a host header is the authority the upstream sees: the same rules as rewrite.authority
      const problem = name.toLowerCase() === 'host' ? authorityProblem(value) : headerValueProblem(value);
      if (problem !== null) f.ck.error(path, problem);
      else if (/%[A-Z_]+(\([^)]*\))?%/.test(value)) f.ck.warn(path, 'Envoy %VARIABLE% substitution is not supported by meshlet; the value is sent as written');
      if (ok && problem === null) ops[op].push([name.toLowerCase(), value]);
    }
  }
  for (const item of f.strings('remove')) {
    if (checkName(f, item.path, item.value, false)) ops.remove.push(item.value.toLowerCase());
  }
  return ops.set.length + ops.add.length + ops.remove.length === 0 ? null : ops;
}

/** Header name rules for operations (as Istio): a token, no pseudo-headers, `host` only set/added on requests. */
function checkName(f: Fields, path: string, name: string, hostAllowed: boolean): boolean {
  if (name.startsWith(':')) {
    f.ck.error(path, `pseudo-header ${name} cannot be changed (use rewrite.authority for :authority)`);
    return false;
  }
  if (!isToken(name)) {
    f.ck.error(path, `"${name}" is not a valid header name`);
    return false;
  }
  if (!hostAllowed && name.toLowerCase() === 'host') {
    f.ck.error(path, 'the host header cannot be removed or set on responses');
    return false;
  }
  return true;
}
