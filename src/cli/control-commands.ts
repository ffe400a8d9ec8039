// `meshlet apply | config`: talk to a running meshlet over its control socket.
// Exit codes: 0 ok, 1 rejected, 2 unreachable.
import { parseArgs } from 'node:util';
import { readSources } from '../control/config-store.js';
import { controlRequest, UnreachableError } from '../control/control-client.js';
import { defaultControlSocket } from './run.js';

const socketOptions = {
  socket: { type: 'string' },
  'admin-port': { type: 'string' },
} as const;

function socketPath(values: { socket?: string; 'admin-port'?: string }): string {
  return values.socket ?? defaultControlSocket(Number(values['admin-port'] ?? 15000));
}

async function send(path: string, request: Record<string, unknown>): Promise<Record<string, unknown>> {
  try {
    return await controlRequest(path, request);
  } catch (err) {
    process.stderr.write(`meshlet: ${(err as Error).message}\n`);
    process.exit(err instanceof UnreachableError ? 2 : 1);
  }
}

function printList(label: string, items: unknown): void {
  if (Array.isArray(items)) for (const i of items) process.stdout.write(`${label}${String(i)}\n`);
}

export async function applyCommand(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: { ...socketOptions, file: { type: 'string', short: 'f', multiple: true }, 'dry-run': { type: 'boolean' }, 'if-generation': { type: 'string' } },
  });
  if (values.file === undefined) throw new Error('apply: -f FILE is required');
  const files = await readSources(values.file);
  const request: Record<string, unknown> = { op: 'apply', files, dryRun: values['dry-run'] === true };
  if (values['if-generation'] !== undefined) request.ifGeneration = Number(values['if-generation']);
  const reply = await send(socketPath(values), request);
  printList('', reply.warnings);
  if (reply.ok !== true) {
    printList('', reply.errors);
    process.stderr.write(`meshlet: apply rejected; generation ${String(reply.generation)} keeps serving\n`);
    process.exit(1);
  }
  const diff = reply.diff as { added: string[]; changed: string[]; removed: string[] };
  process.stdout.write(`${reply.dryRun === true ? 'dry run: would apply' : 'applied'} generation ${reply.dryRun === true ? String(Number(reply.generation) + 1) : String(reply.generation)}\n`);
  printList('  added    ', diff.added);
  printList('  changed  ', diff.changed);
  printList('  removed  ', diff.removed);
}

export async function configCommand(args: string[]): Promise<void> {
  const { values } = parseArgs({ args, options: socketOptions });
  const reply = await send(socketPath(values), { op: 'get-config' });
  if (reply.ok !== true) {
    printList('', reply.errors);
    process.exit(1);
  }
  process.stdout.write(`# generation ${String(reply.generation)}\n`);
  for (const f of reply.files as { file: string; text: string }[]) process.stdout.write(`# from ${f.file}\n${f.text.endsWith('\n') ? f.text : `${f.text}\n`}---\n`);
}

interface ReportSeries {
  direction: string;
  service: string;
  version: string;
  responseCode: number;
  responseFlags: string;
  requests: number;
  duration: { p50: number; p90: number; p99: number; p999: number; max: number };
  overhead: { count: number; p50: number; p99: number; p999: number };
}

/** `meshlet stats [--histograms] [--interval] [--route SERVICE]`: Prometheus text, or a latency table. */
export async function statsCommand(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: { ...socketOptions, histograms: { type: 'boolean' }, interval: { type: 'boolean' }, route: { type: 'string' }, json: { type: 'boolean' } },
  });
  const path = socketPath(values);
  if (values.histograms !== true) {
    const reply = await send(path, { op: 'stats' });
    process.stdout.write(String(reply.prometheus));
    return;
  }
  const reply = await send(path, { op: 'histograms', interval: values.interval === true });
  if (reply.ok !== true) {
    printList('', reply.errors);
    process.exit(1);
  }
  const report = reply.report as { view: string; series: ReportSeries[] };
  const series = report.series.filter((s) => values.route === undefined || s.service === values.route || s.service.startsWith(`${values.route}.`));
  if (values.json === true) {
    process.stdout.write(`${JSON.stringify({ ...report, series }, null, 2)}\n`);
    return;
  }
  const rows = series.map((s) => [s.direction, s.service, s.version, String(s.responseCode), s.responseFlags, String(s.requests),
    s.duration.p50.toFixed(3), s.duration.p99.toFixed(3), s.duration.p999.toFixed(3), s.duration.max.toFixed(3),
    s.overhead.count === 0 ? '-' : s.overhead.p50.toFixed(3), s.overhead.count === 0 ? '-' : s.overhead.p99.toFixed(3)]);
  const head = ['direction', 'service', 'version', 'code', 'flags', 'requests', 'p50 ms', 'p99 ms', 'p99.9 ms', 'max ms', 'overhead p50', 'overhead p99'];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] as string).length)));
  const line = (cells: string[]): string => cells.map((c, i) => c.padEnd(widths[i] as number)).join('  ').trimEnd();
  process.stdout.write(`# ${report.view} view\n${line(head)}\n${rows.map(line).join('\n')}\n`);
}
