// A strict reader of the Prometheus text format 0.0.4 for tests: throws on anything a scraper
// could reject or misread (bad names, escapes, HELP/TYPE order, duplicate series, histogram shape).

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

export interface Family {
  name: string;
  type: string;
  help: string;
  samples: Sample[];
}

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
const TYPES = new Set(['counter', 'gauge', 'histogram', 'summary', 'untyped']);

function parseValue(s: string, where: string): number {
  if (s === '+Inf') return Infinity;
  if (s === '-Inf') return -Infinity;
  if (s === 'NaN') return NaN;
  if (!/^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(s)) throw new Error(`${where}: bad value "${s}"`);
  return Number(s);
}

function unescapeHelp(s: string, where: string): string {
  return s.replace(/\\(.?)/g, (_, c: string) => {
    if (c === '\\') return '\\';
    if (c === 'n') return '\n';
    throw new Error(`${where}: bad escape in HELP`);
  });
}

/** Parses `{a="x",b="y"}` starting at `i` (at '{'); returns labels and the index after '}'. */
function parseLabels(line: string, i: number, where: string): [Record<string, string>, number] {
  const labels: Record<string, string> = {};
  i++;
  while (line[i] !== '}') {
    const eq = line.indexOf('=', i);
    if (eq < 0) throw new Error(`${where}: label without '='`);
    const name = line.slice(i, eq);
    if (!LABEL_NAME.test(name) || name.startsWith('__')) throw new Error(`${where}: bad label name "${name}"`);
    if (Object.hasOwn(labels, name)) throw new Error(`${where}: label ${name} twice`);
    if (line[eq + 1] !== '"') throw new Error(`${where}: label value not quoted`);
    let j = eq + 2;
    let value = '';
    for (;;) {
      const c = line[j];
      if (c === undefined) throw new Error(`${where}: unterminated label value`);
      if (c === '"') break;
      if (c === '\\') {
        const e = line[j + 1];
        if (e === '\\') value += '\\';
        else if (e === '"') value += '"';
        else if (e === 'n') value += '\n';
        else throw new Error(`${where}: bad escape \\${e ?? ''}`);
        j += 2;
      } else {
        value += c;
        j++;
      }
    }
    labels[name] = value;
    i = j + 1;
    if (line[i] === ',') i++;
    else if (line[i] !== '}') throw new Error(`${where}: expected ',' or '}' after label ${name}`);
  }
  return [labels, i + 1];
}

const seriesId = (name: string, labels: Record<string, string>): string =>
  `${name}{${Object.keys(labels).sort().map((k) => `${k}=${JSON.stringify(labels[k])}`).join(',')}}`;

export function parseExposition(text: string): Family[] {
  if (text !== '' && !text.endsWith('\n')) throw new Error('does not end with a line feed');
  const families: Family[] = [];
  const byName = new Map<string, Family>();
  const seen = new Set<string>();
  let current: Family | null = null;
  const lines = text === '' ? [] : text.slice(0, -1).split('\n');
  lines.forEach((line, n) => {
    const where = `line ${n + 1}`;
    if (line === '') throw new Error(`${where}: empty line`);
    if (line.startsWith('#')) {
      const m = /^# (HELP|TYPE) ([^ ]+) (.*)$/.exec(line);
      if (m === null) throw new Error(`${where}: stray comment`);
      const [, kind, name, rest] = m as unknown as [string, string, string, string];
      if (!METRIC_NAME.test(name)) throw new Error(`${where}: bad metric name "${name}"`);
      let f = byName.get(name);
      if (f === undefined) {
        if (current !== null && current.samples.length === 0 && current.name !== name) throw new Error(`${where}: family ${current.name} has no samples`);
        f = { name, type: '', help: '', samples: [] };
        byName.set(name, f);
        families.push(f);
      } else if (f !== current || f.samples.length > 0) {
        throw new Error(`${where}: ${kind} for ${name} after its samples or again`);
      }
      if (kind === 'HELP') {
        if (f.help !== '') throw new Error(`${where}: second HELP for ${name}`);
        f.help = unescapeHelp(rest, where);
      } else {
        if (f.type !== '') throw new Error(`${where}: second TYPE for ${name}`);
        if (!TYPES.has(rest)) throw new Error(`${where}: bad type "${rest}"`);
        f.type = rest;
      }
      current = f;
      return;
    }
    const nameEnd = line.search(/[{ ]/);
    if (nameEnd <= 0) throw new Error(`${where}: no sample name`);
    const name = line.slice(0, nameEnd);
    if (!METRIC_NAME.test(name)) throw new Error(`${where}: bad sample name "${name}"`);
    let labels: Record<string, string> = {};
    let i = nameEnd;
    if (line[i] === '{') [labels, i] = parseLabels(line, i, where);
    if (line[i] !== ' ') throw new Error(`${where}: expected one space before the value`);
    const rest = line.slice(i + 1);
    if (rest.includes(' ')) throw new Error(`${where}: timestamps or trailing text not expected`);
    const value = parseValue(rest, where);
    const f = current as Family | null;
    if (f === null || f.type === '') throw new Error(`${where}: sample ${name} without TYPE`);
    const suffixOk = f.type === 'histogram'
      ? [`${f.name}_bucket`, `${f.name}_sum`, `${f.name}_count`].includes(name)
      : name === f.name;
    if (!suffixOk) throw new Error(`${where}: sample ${name} does not belong to family ${f.name} (${f.type})`);
    if (('le' in labels) !== (name === `${f.name}_bucket`)) throw new Error(`${where}: le only and always on _bucket`);
    if (f.type === 'counter' && !(value >= 0)) throw new Error(`${where}: negative counter`);
    const id = seriesId(name, labels);
    if (seen.has(id)) throw new Error(`${where}: duplicate series ${id}`);
    seen.add(id);
    f.samples.push({ name, labels, value });
  });
  for (const f of families) {
    if (f.type === '' || f.help === '') throw new Error(`family ${f.name} lacks HELP or TYPE`);
    if (f.type === 'histogram') checkHistogram(f);
  }
  return families;
}

/** Per label set: ascending le, non-decreasing counts, +Inf bucket == _count, _sum present. */
function checkHistogram(f: Family): void {
  const groups = new Map<string, { buckets: [number, number][]; sum?: number; count?: number }>();
  for (const s of f.samples) {
    const { le, ...rest } = s.labels;
    const id = seriesId('', rest);
    let g = groups.get(id);
    if (g === undefined) groups.set(id, (g = { buckets: [] }));
    if (s.name.endsWith('_bucket')) g.buckets.push([parseValue(le as string, f.name), s.value]);
    else if (s.name.endsWith('_sum')) g.sum = s.value;
    else g.count = s.value;
  }
  for (const [id, g] of groups) {
    if (g.sum === undefined || g.count === undefined) throw new Error(`${f.name}${id}: _sum or _count missing`);
    for (let i = 1; i < g.buckets.length; i++) {
      const [le0, c0] = g.buckets[i - 1] as [number, number];
      const [le1, c1] = g.buckets[i] as [number, number];
      if (!(le1 > le0)) throw new Error(`${f.name}${id}: le not ascending`);
      if (c1 < c0) throw new Error(`${f.name}${id}: bucket counts decrease at le=${le1}`);
    }
    const last = g.buckets[g.buckets.length - 1];
    if (last === undefined || last[0] !== Infinity) throw new Error(`${f.name}${id}: no +Inf bucket`);
    if (last[1] !== g.count) throw new Error(`${f.name}${id}: +Inf bucket ${last[1]} != _count ${g.count}`);
  }
}
