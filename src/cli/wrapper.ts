// Wrapper mode (`meshlet run … -- APP ARGS`): the app runs as meshlet's child, gets the outbound
// address in its environment, receives meshlet's signals, and its exit ends meshlet with its code.
import { spawn } from 'node:child_process';
import os from 'node:os';
import type { RunOptions, Sidecar } from './run.js';
import { SOCKET_ENV } from '../control/socket-path.js';

const FORWARDED_SIGNALS: NodeJS.Signals[] = ['SIGTERM', 'SIGINT', 'SIGHUP', 'SIGUSR1', 'SIGUSR2'];

/**
 * Wrapper mode (`meshlet run … -- APP ARGS`): the app starts once every worker serves; signals are
 * forwarded to it; a SIGTERM drains inbound at once while outbound serves the app until it exits;
 * when the app exits (a Job finishing, say) meshlet drains and exits with the app's exit code.
 */
export function runWrapped(sidecar: Sidecar, options: RunOptions): void {
  const [command, ...args] = options.command as [string, ...string[]];
  const outbound = sidecar.snapshot.listeners.find((l) => l.direction === 'outbound');
  const env: NodeJS.ProcessEnv = { ...process.env, MESHLET_ADMIN: `${options.adminHost}:${options.adminPort}`, [SOCKET_ENV]: sidecar.controlPath };
  if (outbound !== undefined) {
    env.MESHLET_OUTBOUND = `${outbound.bind}:${outbound.port}`;
    if (options.setHttpProxy) env.HTTP_PROXY = env.http_proxy = `http://${outbound.bind}:${outbound.port}`;
  }
  const child = spawn(command, args, { stdio: 'inherit', env });
  const exited = new Promise<number>((resolve) => {
    child.once('error', (err) => {
      sidecar.log.error({ command, err: err.message }, 'app could not be started');
      resolve(127);
    });
    child.once('exit', (code, signal) => {
      sidecar.log.info({ command, code, signal }, 'app exited');
      resolve(code ?? 128 + (signal === null ? 0 : (os.constants.signals[signal] ?? 0)));
    });
  });
  sidecar.log.info({ command, pid: child.pid }, 'app started');
  for (const signal of FORWARDED_SIGNALS) {
    process.on(signal, () => {
      const forward = (): void => {
        if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      };
      const stopping = signal === 'SIGTERM' || signal === 'SIGINT';
      // registered: the app keeps serving until peers have seen the deregistration
      if (stopping && sidecar.mesh !== null) void sidecar.mesh.deregister().then(forward);
      else forward();
      if (stopping) void sidecar.stop(exited);
    });
  }
  void exited.then(async (code) => {
    await sidecar.stop(Promise.resolve());
    process.exit(code);
  });
}
