// `meshlet stats`: Prometheus text, the latency table, the report as JSON or an HdrHistogram
// interval log (--format hlog), and the latency percentile plot (--plot FILE.svg [--from FILE…]).
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import type { HistogramsReport } from '../stats/histograms-report.js';
import { reportToHlog } from '../stats/hlog.js';
import { LineBuilder, type PlotGrouping } from '../stats/plot/lines.js';
import { addFile, addReport, liveTitles } from '../stats/plot/sources.js';
import { renderPlot } from '../stats/plot/svg.js';
import { printList, send, socketOptions, socketTarget, type SocketTarget } from './control-commands.js';

const FORMATS = ['table', 'json', 'hlog'] as const;
type Format = (typeof FORMATS)[number];

async function fetchReport(socket: SocketTarget, interval: boolean): Promise<HistogramsReport> {
  const reply = await send(socket, { op: 'histograms', interval });
  if (reply.ok !== true) {
    printList('', reply.errors);
    process.exit(1);
  }
  return reply.report as HistogramsReport;
}

function output(text: string, out: string | undefined): void {
  if (out === undefined) process.stdout.write(text);
  else writeFileSync(out, text);
}

function table(report: HistogramsReport): string {
  const rows = report.series.map((s) => [s.direction, s.service, s.version, String(s.responseCode), s.responseFlags, String(s.requests),
    s.duration.p50.toFixed(3), s.duration.p99.toFixed(3), s.duration.p999.toFixed(3), s.duration.max.toFixed(3),
    s.overhead.count === 0 ? '-' : s.overhead.p50.toFixed(3), s.overhead.count === 0 ? '-' : s.overhead.p99.toFixed(3)]);
  const head = ['direction', 'service', 'version', 'code', 'flags', 'requests', 'p50 ms', 'p99 ms', 'p99.9 ms', 'max ms', 'overhead p50', 'overhead p99'];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] as string).length)));
  const line = (cells: string[]): string => cells.map((c, i) => c.padEnd(widths[i] as number)).join('  ').trimEnd();
  return `# ${report.view} view\n${line(head)}\n${rows.map(line).join('\n')}\n`;
}

/**
 * `meshlet stats [--histograms [--interval] [--route S] [--format table|json|hlog] [--out FILE]]`
 * `meshlet stats --plot FILE.svg [--interval] [--route S] [--by route|series] [--from FILE.hlog|FILE.json …]`
 */
export async function statsCommand(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: {
      ...socketOptions, histograms: { type: 'boolean' }, interval: { type: 'boolean' }, route: { type: 'string' }, json: { type: 'boolean' },
      format: { type: 'string' }, out: { type: 'string' }, plot: { type: 'string' }, from: { type: 'string', multiple: true }, by: { type: 'string' },
    },
  });
  const route = values.route;
  const wanted = (service: string): boolean => route === undefined || service === route || service.startsWith(`${route}.`);
  const socket = socketTarget(values);
  if (values.plot !== undefined) {
    const by = values.by ?? 'route';
    if (by !== 'route' && by !== 'series') throw new Error(`stats: --by expects route or series, got "${by}"`);
    const b = new LineBuilder();
    let titles: { title: string; subtitle: string };
    const from = values.from ?? [];
    if (from.length > 0) {
      for (const f of from) addFile(b, from.length === 1 ? '' : path.basename(f), readFileSync(f, 'utf8'), by as PlotGrouping, wanted);
      titles = { title: 'meshlet latency by percentile', subtitle: `from ${from.map((f) => path.basename(f)).join(', ')}` };
    } else {
      const report = await fetchReport(socket, values.interval === true);
      addReport(b, '', report, by as PlotGrouping, wanted);
      titles = liveTitles(report.view, report.startMs, report.endMs);
    }
    const lines = b.finish();
    writeFileSync(values.plot, renderPlot(lines, titles));
    process.stdout.write(`wrote ${values.plot}: ${lines.length} line${lines.length === 1 ? '' : 's'}\n`);
    return;
  }
  if (values.histograms !== true) {
    const reply = await send(socket, { op: 'stats' });
    output(String(reply.prometheus), values.out);
    return;
  }
  const format = values.format ?? (values.json === true ? 'json' : 'table');
  if (!(FORMATS as readonly string[]).includes(format)) throw new Error(`stats: --format expects ${FORMATS.join(', ')}, got "${format}"`);
  const full = await fetchReport(socket, values.interval === true);
  const report = { ...full, series: full.series.filter((s) => wanted(s.service)) };
  switch (format as Format) {
    case 'json': return output(`${JSON.stringify(report, null, 2)}\n`, values.out);
    case 'hlog': return output(reportToHlog(report), values.out);
    case 'table': return output(table(report), values.out);
  }
}
