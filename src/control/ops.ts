// The control operations behind the socket (and --watch): validate everything first, reply with
// every error and leave the running config untouched; otherwise push the new generation to every
// worker and reply once each has acknowledged it.
import { stringify } from 'yaml';
import type { ListenerSpec, Snapshot } from '../config/snapshot.js';
import type { StoreLayer } from '../store/layer.js';
import { describeIssues, type ConfigStore, type SourceFile } from './config-store.js';
import { RequestError, type OpHandler, type Reply } from './control-server.js';
import type { StatsService } from '../stats/stats-service.js';
import type { Supervisor } from './supervisor.js';
import { inboundTlsMode } from '../tls/mtls-plan.js';

export interface OpsContext {
  store: ConfigStore;
  supervisor: Supervisor;
  stats: StatsService;
  /** graceful shutdown, as on SIGTERM */
  drain(): void;
  /** extra ops (stats, histograms) registered by their owners */
  extra?: Record<string, OpHandler>;
  /** the applier shared with the store's config source (created here when absent) */
  applier?: Applier;
}

/** Every change of the running config goes through one queue: socket applies and store changes alike. */
export interface Applier {
  /** control socket `apply`: replaces the local layer */
  apply(req: Record<string, unknown>): Promise<Reply>;
  /** a new store layer (the store changed): same validation, same push, same reply */
  applyStore(layer: StoreLayer): Promise<Reply>;
}

/**
 * What a listener's socket depends on. The PeerAuthentication mode counts only where the workers
 * terminate TLS on the port (STRICT, or PERMISSIVE with an identity): that changes only on
 * restart. Without an identity, PERMISSIVE and DISABLE are the same plaintext listener.
 */
function listenerKey(l: ListenerSpec, hasIdentity: boolean): string {
  const traffic = l.traffic === undefined || l.traffic === 'http' ? '' : ` ${l.traffic}`;
  return `${l.direction} ${l.bind}:${l.port} ${l.name}${traffic}${inboundTlsMode(l, hasIdentity) !== null ? ` mtls=${l.mtlsMode}` : ''}`;
}

/** Listeners are sockets every worker holds open; changing them needs a restart (said, not ignored). */
function listenerChange(before: Snapshot, after: Snapshot, hasIdentity: boolean): string | null {
  const a = before.listeners.map((l) => listenerKey(l, hasIdentity)).sort().join(', ');
  const b = after.listeners.map((l) => listenerKey(l, hasIdentity)).sort().join(', ');
  return a === b ? null : `listeners would change from [${a}] to [${b}]; listeners (Sidecar ports, ServiceEntry TCP ports on loopback addresses) change only on restart`;
}

function sourcesOf(req: Record<string, unknown>): SourceFile[] {
  const { yaml, files, resources } = req;
  if (yaml !== undefined) {
    if (typeof yaml !== 'string') throw new RequestError('apply: yaml must be a string');
    return [{ file: typeof req.file === 'string' ? req.file : '<apply>', text: yaml }];
  }
  if (files !== undefined) {
    if (!Array.isArray(files) || !files.every((f) => typeof f === 'object' && f !== null && typeof f.file === 'string' && typeof f.text === 'string')) {
      throw new RequestError('apply: files must be a list of {file: string, text: string}');
    }
    return files as SourceFile[];
  }
  if (resources !== undefined) {
    if (!Array.isArray(resources) || !resources.every((r) => typeof r === 'object' && r !== null && !Array.isArray(r))) {
      throw new RequestError('apply: resources must be a list of resource objects');
    }
    return [{ file: '<apply>', text: resources.map((r) => stringify(r)).join('---\n') }];
  }
  throw new RequestError('apply: give yaml (string), files ([{file, text}]) or resources ([objects])');
}

export function createApplier(ctx: Pick<OpsContext, 'store' | 'supervisor'>): Applier {
  let queue: Promise<unknown> = Promise.resolve();
  const queued = (run: () => Promise<Reply>): Promise<Reply> => {
    const next = queue.then(run);
    queue = next.catch(() => undefined);
    return next;
  };

  async function push(local: SourceFile[], layer: StoreLayer | null, dryRun: boolean): Promise<Reply> {
    const { store } = ctx;
    const plan = store.plan(local, layer);
    if (!plan.ok) return { ok: false, generation: store.generation, errors: describeIssues(plan.errors), warnings: describeIssues(plan.warnings) };
    const change = store.snapshot === null ? null : listenerChange(store.snapshot, plan.snapshot, ctx.supervisor.hasIdentity);
    if (change !== null) return { ok: false, generation: store.generation, errors: [change] };
    if (dryRun) return { ok: true, dryRun: true, generation: store.generation, diff: plan.diff, warnings: describeIssues(plan.warnings) };
    await ctx.supervisor.apply(plan.snapshot);
    store.commit(plan);
    return { ok: true, generation: store.generation, diff: plan.diff, warnings: describeIssues(plan.warnings) };
  }

  async function apply(req: Record<string, unknown>): Promise<Reply> {
    const dryRun = req.dryRun ?? false;
    if (typeof dryRun !== 'boolean') throw new RequestError('apply: dryRun must be a boolean');
    const ifGeneration = req.ifGeneration;
    if (ifGeneration !== undefined && !Number.isInteger(ifGeneration)) throw new RequestError('apply: ifGeneration must be an integer');
    const sources = sourcesOf(req);
    const { store } = ctx;
    if (ifGeneration !== undefined && ifGeneration !== store.generation) {
      return { ok: false, generation: store.generation, errors: [`running generation is ${store.generation}, not ${String(ifGeneration)}: someone applied meanwhile; re-read with \`meshlet config\``] };
    }
    return push(sources, store.layer, dryRun);
  }

  return {
    // applies run one at a time, so ifGeneration checks and commits cannot interleave
    apply: (req) => queued(() => apply(req)),
    applyStore: (layer) => queued(() => push(ctx.store.local, layer, false)),
  };
}

export function createOps(ctx: OpsContext): Record<string, OpHandler> {
  const applier = ctx.applier ?? createApplier(ctx);
  return {
    ping: () => ({ ok: true, generation: ctx.store.generation, pid: process.pid }),
    apply: (req) => applier.apply(req),
    // the source files only: the compiled snapshot is several times their size (admin /config_dump has it)
    'get-config': () => ({ ok: true, generation: ctx.store.generation, files: ctx.store.files }),
    stats: () => ({ ok: true, generation: ctx.store.generation, prometheus: ctx.stats.prometheus() }),
    histograms: async (req) => {
      if (req.interval !== undefined && typeof req.interval !== 'boolean') throw new RequestError('histograms: interval must be a boolean');
      return { ok: true, report: await ctx.stats.histograms(req.interval === true ? 'interval' : 'cumulative') };
    },
    drain: () => {
      setImmediate(ctx.drain);
      return { ok: true, draining: true };
    },
    ...ctx.extra,
  };
}
