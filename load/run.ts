// `npm run load -- <scenario> [--k6]`: starts the scenario's upstreams and `meshlet run` with its
// fixtures, drives load (autocannon, or k6 with --k6), performs the mid-run action, then prints
// client vs meshlet latency, status counts and the scenario's checks; exits 1 when a check fails.
import { fork } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { positiveEnv } from '../bench/measure.js';
import { freePort, hasCommand, httpStatus, launch, runToEnd, stopAll, stopChildrenOnExit, waitUntil } from '../bench/proc.js';
import { autocannonDrive, k6Drive, type DriveSpec } from './drive.js';
import { fetchHistograms, resetHistograms, routeStats } from './meshlet-stats.js';
import { SCENARIOS, type Scenario } from './scenarios.js';
import { minus, renderSummary, type ActionResult, type Check, type Observed } from './summary.js';
import type { UpstreamMessage, UpstreamSpec } from './upstreams.js';

const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
const MAIN = path.join(REPO_ROOT, 'dist/src/cli/main.js');
const WARMUP_S = 1;

interface Upstreams {
  ports: Record<string, number>;
  counts(): Promise<Record<string, number>>;
  stop(): void;
}

async function startUpstreams(specs: UpstreamSpec[]): Promise<Upstreams> {
  const child = fork(path.join(REPO_ROOT, 'dist/load/upstreams.js'), [JSON.stringify(specs)], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const next = (): Promise<UpstreamMessage> => new Promise((resolve, reject) => {
    child.once('message', (m) => resolve(m as UpstreamMessage));
    child.once('exit', (code) => reject(new Error(`upstreams exited with ${code}`)));
  });
  const first = await next();
  if (!('ports' in first)) throw new Error('upstreams: expected their ports first');
  return {
    ports: first.ports,
    async counts() {
      const reply = next();
      child.send('counts');
      const m = await reply;
      if (!('counts' in m)) throw new Error('upstreams: expected counts');
      return m.counts;
    },
    stop: () => child.kill('SIGTERM'),
  };
}

/** Copies a fixture into `dir` with {{NAME}} placeholders filled in; an unknown placeholder fails. */
function render(file: string, dir: string, vars: Record<string, number>): string {
  const text = readFileSync(path.join(REPO_ROOT, file), 'utf8').replace(/\{\{(\w+)\}\}/g, (_, name: string) => {
    if (vars[name] === undefined) throw new Error(`${file}: no value for {{${name}}}`);
    return String(vars[name]);
  });
  const out = path.join(dir, path.basename(file));
  writeFileSync(out, text);
  return out;
}

/** `meshlet apply` through the control socket; `atS`: when it was started, in s after the load's start */
async function apply(atS: number, files: string[], socket: string): Promise<ActionResult> {
  const started = Date.now();
  const r = await runToEnd('meshlet apply', null, process.execPath, [MAIN, 'apply', ...files.flatMap((f) => ['-f', f]), '--socket', socket], 30_000);
  const what = `meshlet apply ${files.map((f) => path.basename(f)).join(' ')} (took ${((Date.now() - started) / 1000).toFixed(1)} s)`;
  return { what, atS, ok: r.code === 0, output: r.output() };
}

async function runScenario(sc: Scenario, useK6: boolean): Promise<boolean> {
  const durationS = positiveEnv('LOAD_DURATION', 10);
  const workers = positiveEnv('LOAD_WORKERS', 1);
  const rate = Number(process.env.LOAD_RATE ?? 1000);
  const dir = mkdtempSync(path.join(os.tmpdir(), `meshlet-load-${sc.name}-`));
  process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
  const upstreams = await startUpstreams(sc.upstreams);
  try {
    const [port, adminPort] = [await freePort(), await freePort()];
    const vars: Record<string, number> = { LISTEN_PORT: port, ...Object.fromEntries(Object.entries(upstreams.ports).map(([k, v]) => [`${k}_PORT`, v])) };
    const socket = path.join(dir, 'control.sock');
    const files = sc.files.map((f) => render(f, dir, vars));
    const meshlet = launch('meshlet', null, process.execPath, [MAIN, 'run', ...files.flatMap((f) => ['-c', f]), '--workers', String(workers),
      '--admin', `127.0.0.1:${adminPort}`, '--control-socket', socket, '--log-level', 'warn', ...sc.meshletArgs]);
    await waitUntil(meshlet, async () => (await httpStatus(adminPort, '/ready')) === 200);
    const spec: DriveSpec = { url: `http://127.0.0.1:${port}${sc.path}`, host: sc.host, connections: positiveEnv('LOAD_CONNECTIONS', 50), rate, durationS, slowMs: sc.slowMs ?? null };
    await autocannonDrive({ ...spec, durationS: WARMUP_S });
    await resetHistograms(adminPort);
    const start = await upstreams.counts();
    let before: Record<string, number> | null = null;
    // the counts are split when the apply has returned: the new generation is live in every worker then
    const action = sc.applyMidRun === undefined ? null : (async () => {
      const applyFiles = (sc.applyMidRun ?? []).map((f) => render(f, mkdtempSync(path.join(dir, 'apply-')), vars));
      await new Promise((r) => setTimeout(r, (durationS * 1000) / 2));
      const result = await apply(durationS / 2, applyFiles, socket);
      before = minus(await upstreams.counts(), start);
      return result;
    })();
    process.stderr.write(`load: ${sc.name}: ${useK6 ? 'k6' : 'autocannon'}, ${durationS} s, ${spec.connections} connections, ${rate > 0 ? `${rate} req/s` : 'max rate'}, meshlet ${workers} worker(s)\n`);
    const k6Code = useK6 ? await k6Drive(path.join(REPO_ROOT, `load/${sc.name}.k6.js`), spec) : null;
    const client = useK6 ? null : await autocannonDrive(spec);
    const observed: Observed = {
      client, action: action === null ? null : await action, upstreamsBeforeAction: before,
      upstreams: minus(await upstreams.counts(), start), meshlet: routeStats(await fetchHistograms(adminPort), sc.host),
    };
    const checks: Check[] = [...sc.checks(observed), ...(k6Code === null ? [] : [{ name: 'k6 thresholds', value: `exit ${k6Code}`, want: 'exit 0', pass: k6Code === 0 }])];
    const title = `scenario ${sc.name}: ${sc.summary}\n${durationS} s, ${spec.connections} connections, ${rate > 0 ? `${rate} req/s` : 'max rate'}, meshlet --workers ${workers}`;
    process.stdout.write(renderSummary(title, sc.host, observed, checks));
    return checks.every((c) => c.pass);
  } finally {
    upstreams.stop();
    await stopAll();
  }
}

async function main(): Promise<void> {
  stopChildrenOnExit();
  const args = process.argv.slice(2);
  const names = args.filter((a) => !a.startsWith('--'));
  const scenarios = names.includes('all') ? SCENARIOS : SCENARIOS.filter((s) => names.includes(s.name));
  if (scenarios.length === 0 || scenarios.length < names.filter((n) => n !== 'all').length) {
    process.stderr.write(`usage: npm run load -- <scenario…|all> [--k6]\nscenarios:\n${SCENARIOS.map((s) => `  ${s.name.padEnd(17)} ${s.summary}`).join('\n')}\n`
      + 'env: LOAD_DURATION (s, 10), LOAD_RATE (req/s, 1000; 0 = max), LOAD_CONNECTIONS (50), LOAD_WORKERS (meshlet workers, 1)\n');
    process.exit(2);
  }
  if (args.includes('--k6') && !hasCommand('k6')) {
    process.stderr.write('load: --k6: k6 is not installed here; run without --k6 for the autocannon version\n');
    process.exit(2);
  }
  let ok = true;
  for (const sc of scenarios) ok = (await runScenario(sc, args.includes('--k6'))) && ok;
  process.exitCode = ok ? 0 : 1;
}

main().catch(async (err: Error) => {
  process.stderr.write(`load: ${err.stack ?? err.message}\n`);
  await stopAll(3000);
  process.exit(1);
});
