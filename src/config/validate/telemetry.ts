// Telemetry (telemetry.istio.io/v1alpha1, v1): tracing (randomSamplingPercentage,
// disableSpanReporting), accessLogging (disabled, filter.expression in the CEL subset of
// src/telemetry/filter-expr.ts) and metrics overrides for the standard metrics (disabled,
// tagOverrides REMOVE and UPSERT with a literal value), each with match.mode. What meshlet cannot do
// (other providers, custom tags, custom metrics, CEL beyond the subset) is warned about and left out.
import type { Resource } from '../resource.js';
import type { TelemetryAccessLogSpec, TelemetrySpec, TelemetryTracingSpec } from '../telemetry-spec.js';
import { ISTIO_METRICS, type IstioMetric, type MetricOverrideSpec, type WorkloadMode } from '../../stats/overrides.js';
import { FilterParseError, parseFilter, type FilterNode } from '../../telemetry/filter-expr.js';
import type { Item } from './checker.js';
import { Fields } from './fields.js';
import { readLabels } from './values.js';

export const TELEMETRY_FIELDS = ['selector', 'targetRef', 'targetRefs', 'tracing', 'metrics', 'accessLogging'];
const MODES: readonly WorkloadMode[] = ['CLIENT_AND_SERVER', 'CLIENT', 'SERVER'];
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

export interface TelemetryModel {
  kind: 'Telemetry';
  spec: TelemetrySpec;
}

export function parseTelemetry(spec: Fields, res: Resource): TelemetryModel {
  const s = spec.object('selector', ['matchLabels']);
  let selector = s === null ? null : readLabels(s, 'matchLabels');
  if (selector !== null && Object.keys(selector).length === 0) selector = null;
  if (spec.has('targetRef') || spec.has('targetRefs')) {
    spec.ck.warn(spec.at(spec.has('targetRef') ? 'targetRef' : 'targetRefs'), 'targetRef attaches the Telemetry to a gateway or waypoint, not to a sidecar: ignored by meshlet');
    return { kind: 'Telemetry', spec: { name: `${res.namespace}/${res.name}`, namespace: res.namespace, selector, tracing: [], accessLogging: [], metrics: [] } };
  }
  return {
    kind: 'Telemetry',
    spec: {
      name: `${res.namespace}/${res.name}`,
      namespace: res.namespace,
      selector,
      tracing: (spec.list('tracing') ?? []).flatMap((item) => readTracing(spec, item)),
      accessLogging: (spec.list('accessLogging') ?? []).flatMap((item) => readAccessLogging(spec, item)),
      metrics: (spec.list('metrics') ?? []).flatMap((item) => readMetrics(spec, item)),
    },
  };
}

/** `match.mode` of a tracing or access-logging entry. */
function readMode(f: Fields): WorkloadMode {
  return modeOf(f.object('match', ['mode']));
}

function modeOf(m: Fields | null): WorkloadMode {
  const mode = m?.string('mode') ?? 'CLIENT_AND_SERVER';
  if (!MODES.includes(mode as WorkloadMode)) {
    m?.ck.error(m.at('mode'), `unknown mode ${mode} (one of ${MODES.join(', ')})`);
    return 'CLIENT_AND_SERVER';
  }
  return mode as WorkloadMode;
}

/** provider names; `known` are the ones meshlet serves, others are warned about (the entry is then left out when `strict`). */
function providersOk(f: Fields, known: readonly string[], what: string): boolean {
  const items = f.list('providers');
  if (items === null) return true;
  let ok = true;
  for (const item of items) {
    const p = Fields.of(f.ck, item.value, item.path, ['name'], true);
    const name = p?.string('name', true) ?? null;
    if (name !== null && !known.includes(name)) {
      f.ck.warn(item.path, `provider "${name}" is not available in meshlet (${what}): this entry is ignored`);
      ok = false;
    }
  }
  return ok;
}

function readTracing(spec: Fields, item: Item): TelemetryTracingSpec[] {
  const f = Fields.of(spec.ck, item.value, item.path, ['match', 'providers', 'customTags', 'disableSpanReporting', 'randomSamplingPercentage', 'useRequestIdForTraceSampling', 'enableIstioTags'], true);
  if (f === null) return [];
  if (f.has('providers')) f.ck.warn(f.at('providers'), 'meshlet sends spans to the collector given by --trace-otlp / --trace-zipkin; provider names are not used');
  f.unsupported(['customTags', 'useRequestIdForTraceSampling', 'enableIstioTags']);
  return [{
    mode: readMode(f),
    samplingPercent: f.number('randomSamplingPercentage', { min: 0, max: 100 }),
    disableSpanReporting: f.bool('disableSpanReporting'),
  }];
}

function readAccessLogging(spec: Fields, item: Item): TelemetryAccessLogSpec[] {
  const f = Fields.of(spec.ck, item.value, item.path, ['match', 'providers', 'disabled', 'filter'], true);
  if (f === null) return [];
  const mode = readMode(f);
  if (!providersOk(f, ['envoy'], 'its access log is the JSON lines of --access-log, stdout by default; provider "envoy" names it')) return [];
  let filter: FilterNode | null = null;
  const fl = f.object('filter', ['expression']);
  const expression = fl?.string('expression') ?? null;
  if (fl !== null && expression !== null && expression.trim() !== '') {
    try {
      filter = parseFilter(expression);
    } catch (err) {
      if (!(err instanceof FilterParseError)) throw err;
      fl.ck.warn(fl.at('expression'), `meshlet cannot evaluate "${expression}": ${err.message}; the access log is written without this filter`);
    }
  }
  return [{ mode, disabled: f.bool('disabled') ?? false, filter }];
}

function readMetrics(spec: Fields, item: Item): MetricOverrideSpec[] {
  const f = Fields.of(spec.ck, item.value, item.path, ['providers', 'overrides', 'reportingInterval'], true);
  if (f === null) return [];
  f.unsupported(['reportingInterval'], 'meshlet\'s metrics are scraped, not reported on an interval: ignored');
  if (!providersOk(f, ['prometheus'], 'it serves Prometheus metrics on /stats/prometheus')) return [];
  const out: MetricOverrideSpec[] = [];
  for (const o of f.list('overrides') ?? []) {
    const of = Fields.of(f.ck, o.value, o.path, ['match', 'disabled', 'tagOverrides'], true);
    if (of === null) continue;
    const m = of.object('match', ['metric', 'customMetric', 'mode']);
    if (m?.has('customMetric') === true) {
      m.ck.warn(m.at('customMetric'), 'custom metrics are not supported by meshlet: this override is ignored');
      continue;
    }
    const metric = m?.string('metric') ?? 'ALL_METRICS';
    if (metric !== 'ALL_METRICS' && !(metric in ISTIO_METRICS)) {
      of.ck.error(m?.at('metric') ?? of.at('match'), `unknown metric ${metric} (ALL_METRICS, ${Object.keys(ISTIO_METRICS).join(', ')})`);
      continue;
    }
    const tags: [string, string | null][] = [];
    for (const e of of.entries('tagOverrides') ?? []) {
      if (!LABEL_NAME.test(e.key)) {
        of.ck.error(e.path, `"${e.key}" is not a valid metric label name`);
        continue;
      }
      const t = Fields.of(of.ck, e.value, e.path, ['operation', 'value'], true);
      if (t === null) continue;
      const op = t.string('operation') ?? 'UPSERT';
      if (op === 'REMOVE') {
        tags.push([e.key, null]);
        continue;
      }
      if (op !== 'UPSERT') {
        t.ck.error(t.at('operation'), `unknown operation ${op} (UPSERT or REMOVE)`);
        continue;
      }
      const value = t.string('value', true);
      if (value === null) continue;
      const literal = /^\s*(?:'([^'\\]*)'|"([^"\\]*)")\s*$/.exec(value);
      if (literal === null) {
        t.ck.warn(t.at('value'), `meshlet sets labels to literal values only ('text'); the expression ${value} is not evaluated: this tag override is ignored`);
        continue;
      }
      tags.push([e.key, literal[1] ?? literal[2] ?? '']);
    }
    out.push({ metric: metric as IstioMetric, mode: modeOf(m), disabled: of.bool('disabled') ?? false, tags });
  }
  return out;
}
