// Istio `headers.request|response {set, add, remove}` applied to a flat header list.
// Order as Envoy applies them: remove, then set (replace), then add (append).
import type { HeaderOpsSpec } from '../config/snapshot.js';
import { removeHeader } from './headers.js';

export function applyHeaderOps(headers: string[], ops: HeaderOpsSpec): void {
  for (const name of ops.remove) removeHeader(headers, name);
  for (const [name, value] of ops.set) {
    removeHeader(headers, name);
    headers.push(name, value);
  }
  for (const [name, value] of ops.add) headers.push(name, value);
}
