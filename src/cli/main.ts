#!/usr/bin/env node
// meshlet's command line: `run`, `demo`, `help`.
import { parseArgs } from 'node:util';
import { parseDurationMs, parseFraction, parseHostPort, parsePositiveInt } from './args.js';
import { isCodecName, type CodecName } from '../upstream/codecs.js';
import { DEFAULT_RUN_OPTIONS, runUntilSignal, type RunOptions } from './run.js';
import { isMtlsMode, parseUpstreamMtls, type MtlsOverlay } from '../tls/mtls-plan.js';
import type { IdentityFiles } from '../tls/workload-identity.js';

const USAGE = `usage:
  meshlet run -c FILE.yaml [-c MORE.yaml] [--workers N] [--admin HOST:PORT] [--log-level L]
              [--drain-timeout 5s] [--control-socket PATH] [--watch]
              [--access-log PATH|stdout] [--access-log-sample 0..1] [--upstream-codec h1|undici] [--disable-stats]
              [--retry-budget-ratio 0.2] [--retry-budget-min-per-second 10]
              [--identity-cert F --identity-key F --identity-ca F]   (workload identity; re-read on change)
              [--inbound-mtls STRICT|PERMISSIVE|DISABLE] [--upstream-mtls HOST[=SPIFFE_ID,…]]…   (stopgap mTLS settings)
              [--http-proxy-env] [-- APP ARGS…]   (wrapper mode: runs APP once ready, exits with its code)
  meshlet wait-ready [--timeout 30s] [--admin HOST:PORT]
  meshlet apply -f FILE.yaml [-f MORE.yaml] [--dry-run] [--if-generation N] [--socket PATH | --admin-port P]
  meshlet config [--socket PATH | --admin-port P]
  meshlet stats [--histograms [--interval] [--route SERVICE] [--json]] [--socket PATH | --admin-port P]
  meshlet demo            run the built-in canary demo (two apps + meshlet, seed's 90/10 split)
`;

async function main(argv: string[]): Promise<void> {
  const [command, ...rest] = argv;
  switch (command) {
    case 'run': return runUntilSignal(parseRun(rest));
    case 'apply': return (await import('./control-commands.js')).applyCommand(rest);
    case 'config': return (await import('./control-commands.js')).configCommand(rest);
    case 'stats': return (await import('./control-commands.js')).statsCommand(rest);
    case 'wait-ready': return (await import('./wait-ready.js')).waitReadyCommand(rest);
    case 'demo': {
      const { runDemo } = await import('./demo.js');
      return runDemo();
    }
    case undefined: case 'help': case '--help': case '-h':
      process.stdout.write(USAGE);
      return;
    default:
      process.stderr.write(`meshlet: unknown command "${command}"\n${USAGE}`);
      process.exit(2);
  }
}

function parseCodec(value: string | undefined): CodecName {
  if (value === undefined) return DEFAULT_RUN_OPTIONS.codec;
  if (!isCodecName(value)) throw new Error(`--upstream-codec: expected h1 or undici, got "${value}"`);
  return value;
}

/** `run … -- APP ARGS`: everything after `--` is the app; other positionals are a mistake. */
function wrappedCommand(args: string[], positionals: string[]): string[] {
  const dashes = args.indexOf('--');
  const command = dashes < 0 ? [] : args.slice(dashes + 1);
  if (positionals.length !== command.length) throw new Error(`run: unexpected argument "${positionals[0]}" (the app to wrap goes after --)`);
  if (dashes >= 0 && command.length === 0) throw new Error('run: -- must be followed by the command to run');
  return command;
}

function identityFiles(cert: string | undefined, key: string | undefined, ca: string | undefined): IdentityFiles | null {
  if (cert === undefined && key === undefined && ca === undefined) return null;
  if (cert === undefined || key === undefined || ca === undefined) throw new Error('run: --identity-cert, --identity-key and --identity-ca go together');
  return { cert, key, ca };
}

function mtlsOverlay(inbound: string | undefined, upstream: string[]): MtlsOverlay | null {
  if (inbound === undefined && upstream.length === 0) return null;
  const mode = inbound?.toUpperCase();
  if (mode !== undefined && !isMtlsMode(mode)) throw new Error(`--inbound-mtls: expected STRICT, PERMISSIVE or DISABLE, got "${inbound}"`);
  return { inboundMode: mode ?? null, upstream: parseUpstreamMtls(upstream) };
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
      'control-socket': { type: 'string' },
      watch: { type: 'boolean' },
      'access-log': { type: 'string' },
      'access-log-sample': { type: 'string' },
      'upstream-codec': { type: 'string' },
      'disable-stats': { type: 'boolean' },
      'retry-budget-ratio': { type: 'string' },
      'retry-budget-min-per-second': { type: 'string' },
      'identity-cert': { type: 'string' },
      'identity-key': { type: 'string' },
      'identity-ca': { type: 'string' },
      'inbound-mtls': { type: 'string' },
      'upstream-mtls': { type: 'string', multiple: true },
    },
    strict: true,
  });
  if (values.config === undefined || values.config.length === 0) throw new Error('run: -c FILE.yaml is required');
  const admin = values.admin === undefined ? null : parseHostPort(values.admin, '--admin');
  return {
    ...DEFAULT_RUN_OPTIONS,
    configFiles: values.config,
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
    identityFiles: identityFiles(values['identity-cert'], values['identity-key'], values['identity-ca']),
    mtlsOverlay: mtlsOverlay(values['inbound-mtls'], values['upstream-mtls'] ?? []),
    retryBudgetRatio: values['retry-budget-ratio'] === undefined ? DEFAULT_RUN_OPTIONS.retryBudgetRatio : parseFraction(values['retry-budget-ratio'], '--retry-budget-ratio'),
    retryBudgetMinPerSecond: values['retry-budget-min-per-second'] === undefined ? DEFAULT_RUN_OPTIONS.retryBudgetMinPerSecond : parsePositiveInt(values['retry-budget-min-per-second'], '--retry-budget-min-per-second'),
    accessLogSample: values['access-log-sample'] === undefined ? 1 : parseFraction(values['access-log-sample'], '--access-log-sample'),
    drainTimeoutMs: values['drain-timeout'] === undefined ? DEFAULT_RUN_OPTIONS.drainTimeoutMs : parseDurationMs(values['drain-timeout'], '--drain-timeout'),
    upstreamIdleTimeoutMs: values['upstream-idle-timeout'] === undefined ? DEFAULT_RUN_OPTIONS.upstreamIdleTimeoutMs : parseDurationMs(values['upstream-idle-timeout'], '--upstream-idle-timeout'),
  };
}

main(process.argv.slice(2)).catch((err: Error) => {
  process.stderr.write(`meshlet: ${err.message}\n`);
  process.exit(err.name === 'TypeError' && 'code' in err ? 2 : 1);
});
