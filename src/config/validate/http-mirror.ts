// VirtualService traffic mirroring: `http[].mirror` with `mirrorPercentage`, and the newer
// `mirrors[]` (HTTPMirrorPolicy, each with its own percentage). Absent percentages mean 100.
import type { MirrorModel } from '../model.js';
import { Fields } from './fields.js';
import { readDestination } from './http-route.js';
import { readPercent } from './values.js';

export function readMirrors(rule: Fields): MirrorModel[] {
  rule.unsupported(['mirrorPercent', 'mirror_percent'], "removed from Istio's API (write mirrorPercentage: {value: N}), ignored");
  const items = rule.list('mirrors') ?? [];
  if (rule.has('mirror') && items.length > 0) rule.ck.error(rule.at('mirrors'), 'mirror and mirrors cannot be used together');
  const out: MirrorModel[] = [];
  const percentage = readPercent(rule, 'mirrorPercentage');
  if (rule.has('mirror')) {
    const d = readDestination(rule, 'mirror');
    if (d !== null) out.push({ ...d, percent: percentage ?? 100, path: rule.at('mirror') });
  } else if (percentage !== null) {
    const hint = items.length > 0 ? ' (mirrors[] entries take their own percentage)' : '';
    rule.ck.warn(rule.at('mirrorPercentage'), `applies to mirror only${hint}, ignored`);
  }
  for (const item of items) {
    const m = Fields.of(rule.ck, item.value, item.path, ['destination', 'percentage'], true);
    const d = m === null ? null : readDestination(m, 'destination');
    if (m !== null && d !== null) out.push({ ...d, percent: readPercent(m, 'percentage') ?? 100, path: m.at('destination') });
  }
  return out;
}
