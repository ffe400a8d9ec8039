// CPU time and resident memory of a process and all its descendants (nginx's workers; meshlet's
// worker threads are already counted in its own /proc entry), read from /proc: Linux only.
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';

export interface Usage {
  cpuMs: number;
  rssMb: number;
}

const CLK_TCK = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim()) || 100;

/** [ppid, utime + stime in ticks] from /proc/<pid>/stat; the fields after the ")" of the command name */
function readStat(pid: number): [number, number] | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return [Number(f[1]), Number(f[11]) + Number(f[12])];
  } catch {
    return null; // exited meanwhile
  }
}

function readRssKb(pid: number): number {
  try {
    const m = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m === null ? 0 : Number(m[1]);
  } catch {
    return 0;
  }
}

/** `root` and its descendants. */
function processTree(root: number): number[] {
  const parentOf = new Map<number, number>();
  for (const entry of readdirSync('/proc')) {
    const pid = Number(entry);
    const stat = Number.isInteger(pid) ? readStat(pid) : null;
    if (stat !== null) parentOf.set(pid, stat[0]);
  }
  const tree = [root];
  for (let i = 0; i < tree.length; i++) {
    for (const [pid, ppid] of parentOf) if (ppid === tree[i]) tree.push(pid);
  }
  return tree;
}

/**
 * Runs `run` with the process trees of `roots` stopped (SIGSTOP), and continues the same processes
 * (SIGCONT) when it ends, however it ends: the benches stop the targets they are not measuring
 * (they share the proxy CPU, and an idle node process does its own work there). A process already
 * gone is skipped.
 */
export async function whileStopped<T>(roots: number[], run: () => Promise<T>): Promise<T> {
  const pids = roots.flatMap(processTree);
  signal(pids, 'SIGSTOP');
  try {
    return await run();
  } finally {
    signal(pids, 'SIGCONT');
  }
}

function signal(pids: number[], sig: 'SIGSTOP' | 'SIGCONT'): void {
  for (const pid of pids) {
    try {
      process.kill(pid, sig);
    } catch {
      // (gone)
    }
  }
}

/** RSS is summed over processes, so pages they share (nginx master and worker) count twice. */
export function treeUsage(root: number): Usage {
  let ticks = 0;
  let rssKb = 0;
  for (const pid of processTree(root)) {
    ticks += readStat(pid)?.[1] ?? 0;
    rssKb += readRssKb(pid);
  }
  return { cpuMs: (ticks * 1000) / CLK_TCK, rssMb: rssKb / 1024 };
}
