#!/usr/bin/env node
// meshlet's command line: `run`, `demo`, `help`.
import os from 'node:os';
import { parseArgs } from 'node:util';
import { parseDurationMs, parseFraction, parseHostPort, parsePercent, parsePositiveInt } from './args.js';
import { TRACING_DEFAULTS, type TracingSettings } from '../tracing/settings.js';
import { isCodecName, type CodecName } from '../upstream/codecs.js';
import { isPathNormalization, PATH_NORMALIZATIONS, type PathNormalization } from '../http/path-normalize.js';
import { DEFAULT_RUN_OPTIONS, runUntilSignal, type RunOptions } from './run.js';
import { IDENTITY_ARG_OPTIONS, type IdentityArgs } from '../tls/identity/from-args.js';
import { readStoreTls, STORE_ARG_OPTIONS, storeUrlFrom } from '../store/options.js';
import { DEFAULT_CLUSTER_ID, parseWorkloadFlag, parseWorkloadLabels } from '../telemetry/workload.js';

const USAGE = `usage:
  meshlet run -c FILE.yaml [-c MORE.yaml] [--workers N] [--admin HOST:PORT] [--log-level L]
              [--drain-timeout 5s] [--control-socket PATH] [--watch]
              [--accept-http10] [--downstream-idle-timeout 60s] [--request-headers-timeout 10s]
              [--max-connections-per-endpoint 1024] [--upstream-queue-timeout 1s] [--upstream-idle-timeout 4s]
              [--access-log PATH|stdout] [--access-log-sample 0..1] [--upstream-codec h1|undici] [--disable-stats]
              [--retry-budget-ratio 0.2] [--retry-budget-min-per-second 10]
              [--path-normalization BASE|MERGE_SLASHES|DECODE_AND_MERGE_SLASHES|NONE]
              [--trace-otlp URL | --trace-zipkin URL] [--trace-sampling PERCENT] [--trace-service-name NAME]
              [--trace-batch-delay 1s]
              [--identity-dir DIR | --ca-url URL --ca-token T --identity spiffe://… [--ca-root FILE] [--identity-ttl 24h] [--identity-key-type rsa2048|ecdsa-p256]]
              [--store etcd://HOST:PORT[,…]/PREFIX [--store-ca F [--store-cert F --store-key F]] [--register WORKLOAD.yaml]
               [--store-cache DIR] [--store-timeout 10s] [--propagation-delay 1s]]   (--store also from MESHLET_STORE)
              [--workload NAME.NAMESPACE [--workload-label KEY=VALUE …]] [--cluster-id ID] [--jwks-refresh 20m]
                 (this workload for metrics and the metadata exchange; with --register, its WorkloadEntry says it)
              [--http-proxy-env] [-- APP ARGS…]   (wrapper mode: runs APP once ready, exits with its code)
  meshlet wait-ready [--timeout 30s] [--admin HOST:PORT]
  meshlet apply -f FILE.yaml [-f MORE.yaml] [--dry-run] [--if-generation N] [--socket PATH | --admin-port P]
  meshlet apply -f FILE.yaml [-f MORE.yaml] --store etcd://…/PREFIX [--dry-run] [--if-generation N]
  meshlet delete KIND/NAME [-n NAMESPACE] --store etcd://…/PREFIX [--dry-run] [--if-generation N]
  meshlet mesh status --store etcd://…/PREFIX [--json]  every sidecar: workload, generation, SYNCED/STALE/REJECTED, age
              (store commands also take --store-ca/--store-cert/--store-key and --store-timeout 5s)
  meshlet config [--socket PATH | --admin-port P]
  meshlet stats [--histograms [--interval] [--route SERVICE] [--format table|json|hlog] [--out FILE]]
                [--socket PATH | --admin-port P]
  meshlet stats --plot FILE.svg [--interval] [--route SERVICE] [--by route|series] [--from FILE.hlog|FILE.json …]
  meshlet demo [--mesh]   run the built-in canary demo (two apps + meshlet, seed's 90/10 split);
                          --mesh: through a local etcd, the two versions registering themselves
  meshlet ca init|issue|token|serve …   the built-in mesh CA (\`meshlet ca\` for usage)
`;

async function main(argv: string[]): Promise<void> {
  const [command, ...rest] = argv;
  switch (command) {
    case 'run': return runUntilSignal(parseRun(rest));
    case 'apply':
      if (usesStore(rest)) return (await import('./store-commands.js')).storeApplyCommand(rest);
      return (await import('./control-commands.js')).applyCommand(rest);
    case 'delete': return (await import('./store-commands.js')).storeDeleteCommand(rest);
    case 'mesh': return (await import('./store-commands.js')).meshCommand(rest);
    case 'config': return (await import('./control-commands.js')).configCommand(rest);
    case 'stats': return (await import('./stats-command.js')).statsCommand(rest);
    case 'wait-ready': return (await import('./wait-ready.js')).waitReadyCommand(rest);
    case 'ca': return (await import('./ca.js')).caCommand(rest);
    case 'demo': {
      const { runDemo } = await import('./demo.js');
      return runDemo(rest);
    }
    case undefined: case 'help': case '--help': case '-h':
      process.stdout.write(USAGE);
      return;
    default:
      process.stderr.write(`meshlet: unknown command "${command}"\n${USAGE}`);
      process.exit(2);
  }
}

/** `apply --store …` (or MESHLET_STORE set) writes to the mesh store instead of one sidecar's socket. */
function usesStore(args: string[]): boolean {
  if (args.some((a) => a === '--store' || a.startsWith('--store='))) return true;
  const local = args.some((a) => a === '--socket' || a === '--admin-port' || a.startsWith('--socket=') || a.startsWith('--admin-port='));
  return !local && (process.env.MESHLET_STORE ?? '') !== '';
}

function parseCodec(value: string | undefined): CodecName {
  if (value === undefined) return DEFAULT_RUN_OPTIONS.codec;
  if (!isCodecName(value)) throw new Error(`--upstream-codec: expected h1 or undici, got "${value}"`);
  return value;
}

function parsePathNormalization(value: string | undefined): PathNormalization {
  if (value === undefined) return DEFAULT_RUN_OPTIONS.pathNormalization;
  if (!isPathNormalization(value)) throw new Error(`--path-normalization: expected ${PATH_NORMALIZATIONS.join(', ')}; got "${value}"`);
  return value;
}

/** The identity flags given (checked when the sidecar starts), or null for a plaintext mesh. */
function identityArgs(values: IdentityArgs): IdentityArgs | null {
  const keys = Object.keys(IDENTITY_ARG_OPTIONS) as (keyof IdentityArgs)[];
  if (keys.every((k) => values[k] === undefined)) return null;
  const out: IdentityArgs = {};
  for (const k of keys) if (values[k] !== undefined) out[k] = values[k];
  return out;
}

/** `run … -- APP ARGS`: everything after `--` is the app; other positionals are a mistake. */
function wrappedCommand(args: string[], positionals: string[]): string[] {
  const dashes = args.indexOf('--');
  const command = dashes < 0 ? [] : args.slice(dashes + 1);
  if (positionals.length !== command.length) throw new Error(`run: unexpected argument "${positionals[0]}" (the app to wrap goes after --)`);
  if (dashes >= 0 && command.length === 0) throw new Error('run: -- must be followed by the command to run');
  return command;
}

function parseRun(args: string[]): RunOptions {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      config: { type: 'string', short: 'c', multiple: true },
      'http-proxy-env': { type: 'boolean' },
      workers: { type: 'string' },
      admin: { type: 'string' },
      'log-level': { type: 'string' },
      'drain-timeout': { type: 'string' },
      'upstream-idle-timeout': { type: 'string' },
      'accept-http10': { type: 'boolean' },
      'downstream-idle-timeout': { type: 'string' },
      'request-headers-timeout': { type: 'string' },
      'max-connections-per-endpoint': { type: 'string' },
      'upstream-queue-timeout': { type: 'string' },
      'control-socket': { type: 'string' },
      watch: { type: 'boolean' },
      'access-log': { type: 'string' },
      'access-log-sample': { type: 'string' },
      'upstream-codec': { type: 'string' },
      'disable-stats': { type: 'boolean' },
      'retry-budget-ratio': { type: 'string' },
      'retry-budget-min-per-second': { type: 'string' },
      'path-normalization': { type: 'string' },
      'trace-otlp': { type: 'string' },
      'trace-zipkin': { type: 'string' },
      'trace-sampling': { type: 'string' },
      'trace-service-name': { type: 'string' },
      'trace-batch-delay': { type: 'string' },
      ...IDENTITY_ARG_OPTIONS,
      ...STORE_ARG_OPTIONS,
      register: { type: 'string' },
      'store-cache': { type: 'string' },
      'propagation-delay': { type: 'string' },
      workload: { type: 'string' },
      'workload-label': { type: 'string', multiple: true },
      'cluster-id': { type: 'string' },
      'jwks-refresh': { type: 'string' },
    },
    strict: true,
  });
  const storeUrl = storeUrlFrom(values.store);
  if ((values.config === undefined || values.config.length === 0) && storeUrl === null) throw new Error('run: -c FILE.yaml is required (or --store)');
  for (const flag of ['register', 'store-cache', 'store-timeout', 'propagation-delay', 'store-ca', 'store-cert', 'store-key'] as const) {
    if (storeUrl === null && values[flag] !== undefined) throw new Error(`--${flag} needs --store etcd://HOST:PORT/PREFIX (or MESHLET_STORE)`);
  }
  const admin = values.admin === undefined ? null : parseHostPort(values.admin, '--admin');
  if (values.register !== undefined && (values.workload !== undefined || values['workload-label'] !== undefined)) {
    throw new Error('--workload and --workload-label describe a workload that is not registered; with --register, its WorkloadEntry names the workload and its labels');
  }
  if (values.workload === undefined && values['workload-label'] !== undefined) throw new Error('--workload-label needs --workload NAME.NAMESPACE');
  const clusterId = values['cluster-id'] ?? DEFAULT_CLUSTER_ID;
  if (!/^[A-Za-z0-9][-A-Za-z0-9_.]{0,62}$/.test(clusterId)) throw new Error(`--cluster-id: expected a name of letters, digits, '-', '_' and '.', got "${clusterId}"`);
  const workloadFlags = values.workload === undefined ? null : {
    ...parseWorkloadFlag(values.workload), labels: parseWorkloadLabels(values['workload-label'] ?? []),
  };
  return {
    ...DEFAULT_RUN_OPTIONS,
    configFiles: values.config ?? [],
    workers: values.workers === undefined ? DEFAULT_RUN_OPTIONS.workers : parsePositiveInt(values.workers, '--workers'),
    adminHost: admin?.host ?? DEFAULT_RUN_OPTIONS.adminHost,
    adminPort: admin?.port ?? DEFAULT_RUN_OPTIONS.adminPort,
    logLevel: values['log-level'] ?? DEFAULT_RUN_OPTIONS.logLevel,
    controlSocket: values['control-socket'] ?? null,
    watch: values.watch === true,
    accessLog: values['access-log'] ?? null,
    codec: parseCodec(values['upstream-codec']),
    stats: values['disable-stats'] !== true,
    command: wrappedCommand(args, positionals),
    setHttpProxy: values['http-proxy-env'] === true,
    identityArgs: identityArgs(values),
    retryBudgetRatio: values['retry-budget-ratio'] === undefined ? DEFAULT_RUN_OPTIONS.retryBudgetRatio : parseFraction(values['retry-budget-ratio'], '--retry-budget-ratio'),
    retryBudgetMinPerSecond: values['retry-budget-min-per-second'] === undefined ? DEFAULT_RUN_OPTIONS.retryBudgetMinPerSecond : parsePositiveInt(values['retry-budget-min-per-second'], '--retry-budget-min-per-second'),
    accessLogSample: values['access-log-sample'] === undefined ? 1 : parseFraction(values['access-log-sample'], '--access-log-sample'),
    drainTimeoutMs: values['drain-timeout'] === undefined ? DEFAULT_RUN_OPTIONS.drainTimeoutMs : parseDurationMs(values['drain-timeout'], '--drain-timeout'),
    upstreamIdleTimeoutMs: values['upstream-idle-timeout'] === undefined ? DEFAULT_RUN_OPTIONS.upstreamIdleTimeoutMs : parseDurationMs(values['upstream-idle-timeout'], '--upstream-idle-timeout'),
    connectionsPerEndpoint: values['max-connections-per-endpoint'] === undefined ? DEFAULT_RUN_OPTIONS.connectionsPerEndpoint : parsePositiveInt(values['max-connections-per-endpoint'], '--max-connections-per-endpoint'),
    upstreamQueueTimeoutMs: values['upstream-queue-timeout'] === undefined ? DEFAULT_RUN_OPTIONS.upstreamQueueTimeoutMs : parseQueueTimeout(values['upstream-queue-timeout']),
    tracing: parseTracing(values),
    store: storeUrl === null ? null : {
      url: storeUrl,
      tls: readStoreTls({ ca: values['store-ca'], cert: values['store-cert'], key: values['store-key'] }),
      timeoutMs: values['store-timeout'] === undefined ? 10_000 : parseDurationMs(values['store-timeout'], '--store-timeout'),
      cacheDir: values['store-cache'] ?? null,
      register: values.register ?? null,
      propagationMs: values['propagation-delay'] === undefined ? 1000 : parseDurationMs(values['propagation-delay'], '--propagation-delay'),
    },
    pathNormalization: parsePathNormalization(values['path-normalization']),
    h1: parseH1(values),
    workloadFlags,
    clusterId,
    jwksRefreshMs: values['jwks-refresh'] === undefined ? DEFAULT_RUN_OPTIONS.jwksRefreshMs : parseJwksRefresh(values['jwks-refresh']),
  };
}

/** The HTTP/1.1 listener's settings; HTTP/1.0 is also accepted with Istio's ISTIO_META_HTTP10=1. */
function parseH1(values: Record<string, string | boolean | string[] | undefined>): RunOptions['h1'] {
  const d = DEFAULT_RUN_OPTIONS.h1;
  const seconds = (flag: string, fallback: number): number => {
    const v = values[flag] as string | undefined;
    return v === undefined ? fallback : Math.max(1, Math.ceil(parseDurationMs(v, `--${flag}`) / 1000));
  };
  return {
    acceptHttp10: values['accept-http10'] === true || process.env.ISTIO_META_HTTP10 === '1',
    idleTimeoutS: seconds('downstream-idle-timeout', d.idleTimeoutS),
    requestTimeoutS: seconds('request-headers-timeout', d.requestTimeoutS),
  };
}

/** RequestAuthentication key sets are fetched again this often (at least every second). */
function parseJwksRefresh(value: string): number {
  const ms = parseDurationMs(value, '--jwks-refresh');
  if (!(ms >= 1000)) throw new Error(`--jwks-refresh: expected at least 1s, got "${value}"`);
  return ms;
}

/** A wait for a connection is always bounded: 0 (no bound) is refused. */
function parseQueueTimeout(value: string): number {
  const ms = parseDurationMs(value, '--upstream-queue-timeout');
  if (!(ms >= 1)) throw new Error(`--upstream-queue-timeout: expected at least 1ms, got "${value}"`);
  return ms;
}

/** --trace-otlp URL or --trace-zipkin URL turns tracing on; the other --trace-* flags need one of them. */
function parseTracing(values: Record<string, string | boolean | string[] | undefined>): TracingSettings | null {
  const otlp = values['trace-otlp'] as string | undefined;
  const zipkin = values['trace-zipkin'] as string | undefined;
  if (otlp !== undefined && zipkin !== undefined) throw new Error('--trace-otlp and --trace-zipkin: choose one collector');
  const endpoint = otlp ?? zipkin;
  if (endpoint === undefined) {
    for (const flag of ['trace-sampling', 'trace-service-name', 'trace-batch-delay']) {
      if (values[flag] !== undefined) throw new Error(`--${flag} needs --trace-otlp URL or --trace-zipkin URL`);
    }
    return null;
  }
  let url: URL;
  try {
    url = new URL(endpoint);
  } catch {
    throw new Error(`--trace-${otlp !== undefined ? 'otlp' : 'zipkin'}: expected an http:// URL, got "${endpoint}"`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error(`--trace-${otlp !== undefined ? 'otlp' : 'zipkin'}: expected an http:// or https:// URL, got "${endpoint}"`);
  const sampling = values['trace-sampling'] as string | undefined;
  const delay = values['trace-batch-delay'] as string | undefined;
  const batchDelayMs = delay === undefined ? TRACING_DEFAULTS.batchDelayMs : parseDurationMs(delay, '--trace-batch-delay');
  if (!(batchDelayMs >= 1)) throw new Error(`--trace-batch-delay: expected at least 1ms, got "${delay}"`);
  return {
    ...TRACING_DEFAULTS,
    exporter: otlp !== undefined ? 'otlp' : 'zipkin',
    endpoint,
    serviceName: (values['trace-service-name'] as string | undefined) ?? 'meshlet',
    nodeId: `meshlet~${os.hostname()}~${process.pid}`,
    samplingPercent: sampling === undefined ? TRACING_DEFAULTS.samplingPercent : parsePercent(sampling, '--trace-sampling'),
    batchDelayMs,
  };
}

main(process.argv.slice(2)).catch((err: Error) => {
  process.stderr.write(`meshlet: ${err.message}\n`);
  process.exit(err.name === 'TypeError' && 'code' in err ? 2 : 1);
});
