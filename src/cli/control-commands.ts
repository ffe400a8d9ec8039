// `meshlet apply | config` (and the socket helpers `meshlet stats` shares): talk to a running meshlet over its control socket.
// Exit codes: 0 ok, 1 rejected, 2 unreachable.
import { parseArgs } from 'node:util';
import { readConfigFiles } from '../config/read-files.js';
import { controlRequest, UnreachableError } from '../control/control-client.js';
import { defaultControlSocket } from './run.js';

export const socketOptions = {
  socket: { type: 'string' },
  'admin-port': { type: 'string' },
} as const;

export function socketPath(values: { socket?: string; 'admin-port'?: string }): string {
  return values.socket ?? defaultControlSocket(Number(values['admin-port'] ?? 15000));
}

export async function send(path: string, request: Record<string, unknown>): Promise<Record<string, unknown>> {
  try {
    return await controlRequest(path, request);
  } catch (err) {
    process.stderr.write(`meshlet: ${(err as Error).message}\n`);
    process.exit(err instanceof UnreachableError ? 2 : 1);
  }
}

export function printList(label: string, items: unknown): void {
  if (Array.isArray(items)) for (const i of items) process.stdout.write(`${label}${String(i)}\n`);
}

export async function applyCommand(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: { ...socketOptions, file: { type: 'string', short: 'f', multiple: true }, 'dry-run': { type: 'boolean' }, 'if-generation': { type: 'string' } },
  });
  if (values.file === undefined) throw new Error('apply: -f FILE is required');
  const files = await readConfigFiles(values.file);
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
