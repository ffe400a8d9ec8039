// `meshlet apply | config` (and the socket helpers `meshlet stats` shares): talk to a running meshlet over its control socket.
// Exit codes: 0 ok, 1 rejected, 2 unreachable.
import { parseArgs } from 'node:util';
import { readConfigFiles } from '../config/index.js';
import { controlRequest, UnreachableError } from '../control/control-client.js';
import { DEFAULT_ADMIN_PORT, defaultControlSocket, securePrivateDir, SOCKET_ENV } from '../control/socket-path.js';

export const socketOptions = {
  socket: { type: 'string' },
  'admin-port': { type: 'string' },
} as const;

export interface SocketTarget {
  path: string;
  /** the default path for an admin port, whose directory must be this user's alone */
  derived: boolean;
}

/** --socket PATH; else the default socket of --admin-port P; else $MESHLET_CONTROL_SOCKET (in a wrapped app); else the default of admin port 15000. */
export function socketTarget(values: { socket?: string; 'admin-port'?: string }, env: NodeJS.ProcessEnv = process.env): SocketTarget {
  if (values.socket !== undefined) return { path: values.socket, derived: false };
  const port = values['admin-port'];
  if (port !== undefined) {
    const n = Number(port);
    if (!Number.isInteger(n) || n < 1 || n > 65535) throw new Error(`--admin-port: expected a port number, got "${port}"`);
    return { path: defaultControlSocket(n, env), derived: true };
  }
  const fromEnv = env[SOCKET_ENV];
  if (fromEnv !== undefined && fromEnv !== '') return { path: fromEnv, derived: false };
  return { path: defaultControlSocket(DEFAULT_ADMIN_PORT, env), derived: true };
}

export async function send(target: SocketTarget, request: Record<string, unknown>): Promise<Record<string, unknown>> {
  try {
    if (target.derived) await securePrivateDir(target.path, false);
    return await controlRequest(target.path, request);
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
  const reply = await send(socketTarget(values), request);
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
  const reply = await send(socketTarget(values), { op: 'get-config' });
  if (reply.ok !== true) {
    printList('', reply.errors);
    process.exit(1);
  }
  process.stdout.write(`# generation ${String(reply.generation)}\n`);
  for (const f of reply.files as { file: string; text: string }[]) process.stdout.write(`# from ${f.file}\n${f.text.endsWith('\n') ? f.text : `${f.text}\n`}---\n`);
}
