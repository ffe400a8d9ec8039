// `meshlet run`: load and validate the config, refuse ports another process serves, start the
// workers and the admin endpoint, and drain on SIGTERM/SIGINT.
import os from 'node:os';
import type http from 'node:http';
import { startAdmin } from '../admin/admin-server.js';
import { loadAndCompile } from '../config/index.js';
import { formatIssue } from '../config/issues.js';
import type { Snapshot } from '../config/snapshot.js';
import { assertPortsFree } from '../control/port-check.js';
import { Supervisor } from '../control/supervisor.js';
import { createLogger, type Logger } from '../log.js';

export interface RunOptions {
  configFiles: string[];
  workers: number;
  adminHost: string;
  adminPort: number;
  logLevel: string;
  drainTimeoutMs: number;
  connectionsPerEndpoint: number;
  upstreamIdleTimeoutMs: number;
  connectTimeoutMs: number;
}

export const DEFAULT_RUN_OPTIONS: Omit<RunOptions, 'configFiles'> = {
  workers: os.availableParallelism(),
  adminHost: '127.0.0.1',
  adminPort: 15000,
  logLevel: 'info',
  drainTimeoutMs: 5000,
  connectionsPerEndpoint: 256,
  upstreamIdleTimeoutMs: 4000,
  connectTimeoutMs: 10_000,
};

export interface Sidecar {
  snapshot: Snapshot;
  supervisor: Supervisor;
  admin: http.Server;
  log: Logger;
  /** drain and stop; resolves when every worker has exited */
  stop(): Promise<void>;
}

export class StartupError extends Error {}

export async function startSidecar(options: RunOptions): Promise<Sidecar> {
  const log = createLogger(options.logLevel);
  const { snapshot, issues } = await loadAndCompile(options.configFiles, 1);
  for (const issue of issues) {
    if (issue.severity === 'warning') log.warn(formatIssue(issue));
  }
  if (snapshot === null) {
    throw new StartupError(issues.filter((i) => i.severity === 'error').map(formatIssue).join('\n'));
  }
  try {
    await assertPortsFree(snapshot.listeners);
  } catch (err) {
    throw new StartupError((err as Error).message);
  }
  const supervisor = new Supervisor(snapshot, options, log);
  const admin = await startAdmin(options.adminHost, options.adminPort, {
    supervisor,
    generation: () => snapshot.generation,
  }).catch((err: Error) => { throw new StartupError(err.message); });
  try {
    await supervisor.start();
  } catch (err) {
    await supervisor.drain(0);
    admin.close();
    throw new StartupError((err as Error).message);
  }
  const listeners = snapshot.listeners.map((l) => `${l.direction} ${l.bind}:${l.port}`);
  log.info({ listeners, workers: supervisor.workerCount, generation: snapshot.generation, admin: `${options.adminHost}:${options.adminPort}` }, 'meshlet ready');
  let stopping: Promise<void> | null = null;
  return {
    snapshot, supervisor, admin, log,
    stop() {
      stopping ??= (async () => {
        log.info({ drainTimeoutMs: options.drainTimeoutMs }, 'draining');
        await supervisor.drain(options.drainTimeoutMs);
        await new Promise<void>((resolve) => admin.close(() => resolve()));
        admin.closeAllConnections();
        log.info('stopped');
      })();
      return stopping;
    },
  };
}

/** Runs until SIGTERM/SIGINT, then drains and exits 0. */
export async function runUntilSignal(options: RunOptions): Promise<void> {
  let sidecar: Sidecar;
  try {
    sidecar = await startSidecar(options);
  } catch (err) {
    process.stderr.write(`meshlet: ${(err as Error).message}\n`);
    process.exit(1);
  }
  const onSignal = (signal: string): void => {
    sidecar.log.info({ signal }, 'signal received');
    void sidecar.stop().then(() => process.exit(0));
  };
  process.once('SIGTERM', onSignal);
  process.once('SIGINT', onSignal);
}
