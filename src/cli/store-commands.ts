// `meshlet apply --store`, `meshlet delete --store` and `meshlet mesh status`: the mesh store's
// commands (logic in src/store/). Exit codes: 0 ok, 1 rejected or conflict, 2 store unreachable.
import { parseArgs } from 'node:util';
import { parseDurationMs } from './args.js';
import { formatIssue } from '../config/index.js';
import { HANDLED_KINDS } from '../config/resource.js';
import { readConfigFiles } from '../config/index.js';
import { EtcdClient, EtcdError } from '../store/etcd/client.js';
import { storeKeys } from '../store/keys.js';
import { readStoreTls, STORE_ARG_OPTIONS, storeUrlFrom, type StoreUrl } from '../store/options.js';
import { parseStatus, renderStatusTable, type SidecarStatus } from '../store/status.js';
import { applyToStore, deleteFromStore, type StoreChange } from '../store/store-apply.js';
import { newestRevision } from '../store/sync.js';

const CHANGE_OPTIONS = { ...STORE_ARG_OPTIONS, 'dry-run': { type: 'boolean' }, 'if-generation': { type: 'string' } } as const;

function connect(values: { store?: string; 'store-ca'?: string; 'store-cert'?: string; 'store-key'?: string; 'store-timeout'?: string }): { client: EtcdClient; url: StoreUrl } {
  const url = storeUrlFrom(values.store);
  if (url === null) throw new Error('--store etcd://HOST:PORT[,HOST:PORT…]/PREFIX is required (or MESHLET_STORE)');
  const tls = readStoreTls({ ca: values['store-ca'], cert: values['store-cert'], key: values['store-key'] });
  const callTimeoutMs = values['store-timeout'] === undefined ? 5000 : parseDurationMs(values['store-timeout'], '--store-timeout');
  return { client: new EtcdClient({ endpoints: url.endpoints, tls, callTimeoutMs }), url };
}

async function withStore<T>(client: EtcdClient, run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (err) {
    process.stderr.write(`meshlet: ${(err as Error).message}\n`);
    client.close();
    process.exit(err instanceof EtcdError ? 2 : 1);
  } finally {
    client.close();
  }
}

function ifGeneration(value: string | undefined): number | null {
  if (value === undefined) return null;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new Error(`--if-generation: expected a store generation (integer), got "${value}"`);
  return n;
}

/** A line diff good enough to review a resource change: lines only in the old value (-), only in the new (+). */
function lineDiff(before: string, after: string): string[] {
  const a = before.split('\n');
  const b = after.split('\n');
  const inA = new Set(a);
  const inB = new Set(b);
  return [...a.filter((l) => !inB.has(l)).map((l) => `    - ${l}`), ...b.filter((l) => !inA.has(l)).map((l) => `    + ${l}`)];
}

function report(change: StoreChange, dryRun: boolean, verb: string): void {
  for (const w of change.warnings) process.stdout.write(`${formatIssue(w)}\n`);
  if (change.errors.length > 0) {
    for (const e of change.errors) process.stdout.write(`${formatIssue(e)}\n`);
    process.stderr.write(`meshlet: ${verb} rejected; nothing written (store generation ${change.generation})\n`);
    process.exit(1);
  }
  if (change.conflict) {
    process.stderr.write(`meshlet: the store changed meanwhile (generation ${change.generation} when read${dryRun ? '' : ', or changed since'}); nothing written: re-read with \`meshlet mesh status\` and retry\n`);
    process.exit(1);
  }
  const head = dryRun ? `dry run against store generation ${change.generation}: would write` : change.written === null ? `nothing to write; store generation ${change.generation}` : `${verb === 'delete' ? 'deleted' : 'applied'}: store generation ${change.written}`;
  process.stdout.write(`${head}\n`);
  for (const k of change.added) process.stdout.write(`  added     ${k}\n`);
  for (const c of change.changed) {
    process.stdout.write(`  changed   ${c.key}\n`);
    if (dryRun) for (const l of lineDiff(c.before, c.after)) process.stdout.write(`${l}\n`);
  }
  for (const k of change.removed) process.stdout.write(`  removed   ${k}\n`);
  for (const k of change.unchanged) process.stdout.write(`  unchanged ${k}\n`);
}

export async function storeApplyCommand(args: string[]): Promise<void> {
  const { values } = parseArgs({ args, options: { ...CHANGE_OPTIONS, file: { type: 'string', short: 'f', multiple: true } } });
  if (values.file === undefined) throw new Error('apply: -f FILE is required');
  const files = await readConfigFiles(values.file);
  const options = { dryRun: values['dry-run'] === true, ifGeneration: ifGeneration(values['if-generation']) };
  const { client, url } = connect(values);
  const change = await withStore(client, () => applyToStore(client, storeKeys(url.prefix), files, options));
  report(change, options.dryRun, 'apply');
}

export async function storeDeleteCommand(args: string[]): Promise<void> {
  const { values, positionals } = parseArgs({ args, allowPositionals: true, options: { ...CHANGE_OPTIONS, namespace: { type: 'string', short: 'n' } } });
  const [target, ...extra] = positionals;
  const m = target === undefined ? null : /^([A-Za-z]+)\/([a-z0-9.-]+)$/.exec(target);
  const kind = m === null ? undefined : HANDLED_KINDS.find((k) => k.toLowerCase() === (m[1] as string).toLowerCase());
  if (m === null || extra.length > 0 || kind === undefined) throw new Error(`delete: expected KIND/NAME (KIND one of ${HANDLED_KINDS.join(', ')}), got "${positionals.join(' ')}"`);
  const options = { dryRun: values['dry-run'] === true, ifGeneration: ifGeneration(values['if-generation']) };
  const { client, url } = connect(values);
  const namespace = values.namespace ?? 'default';
  const change = await withStore(client, () => deleteFromStore(client, storeKeys(url.prefix), { kind, namespace, name: m[2] as string }, options));
  if (change === null) {
    process.stderr.write(`meshlet: ${kind}/${namespace}/${m[2]} is not in the store\n`);
    process.exit(1);
  }
  report(change, options.dryRun, 'delete');
}

export async function meshCommand(args: string[]): Promise<void> {
  const [sub, ...rest] = args;
  if (sub !== 'status') throw new Error('mesh: expected `meshlet mesh status --store etcd://…/PREFIX [--json]`');
  const { values } = parseArgs({ args: rest, options: { ...STORE_ARG_OPTIONS, json: { type: 'boolean' } } });
  const { client, url } = connect(values);
  const keys = storeKeys(url.prefix);
  const { rows, generation } = await withStore(client, async () => {
    const config = await client.range(keys.config);
    const status = await client.range(keys.status, config.revision);
    return { generation: newestRevision(config.kvs), rows: status.kvs.map((kv) => parseStatus(kv.value)).filter((s): s is SidecarStatus => s !== null) };
  });
  if (values.json === true) process.stdout.write(`${JSON.stringify({ generation, sidecars: rows }, null, 2)}\n`);
  else process.stdout.write(renderStatusTable(rows, generation));
}
