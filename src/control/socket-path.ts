// Where the control socket lives by default, and the one check that makes it safe: a directory
// only meshlet's user can write. (In world-writable /tmp, another local user could create
// /tmp/meshlet-<port>.sock first and answer `meshlet apply`, reading the config sent.) The
// directory is $XDG_RUNTIME_DIR/meshlet (the per-user runtime directory), or meshlet-<uid> in the
// temp directory; it is created 0700 and must be owned by the current user and not group or
// world writable, or meshlet — server and CLI alike — refuses it.
import { lstat, mkdir } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

/** Admin port whose socket the CLI uses when neither --socket nor --admin-port is given. */
export const DEFAULT_ADMIN_PORT = 15000;

/** Set for a wrapped app (`meshlet run … -- APP`): the control socket of the meshlet that runs it. */
export const SOCKET_ENV = 'MESHLET_CONTROL_SOCKET';

function uid(): number {
  return process.getuid?.() ?? -1;
}

export function controlSocketDir(env: NodeJS.ProcessEnv = process.env): string {
  const runtime = env.XDG_RUNTIME_DIR;
  // the XDG spec: a relative path is to be ignored
  if (runtime !== undefined && path.isAbsolute(runtime)) return path.join(runtime, 'meshlet');
  return path.join(os.tmpdir(), `meshlet-${uid()}`);
}

/** The default control socket of the meshlet whose admin listens on `adminPort`. */
export function defaultControlSocket(adminPort: number, env: NodeJS.ProcessEnv = process.env): string {
  return path.join(controlSocketDir(env), `control-${adminPort}.sock`);
}

/** Why `dir` is not safe for a socket (another user could replace it), or null. */
async function dirProblem(dir: string): Promise<string | null> {
  const st = await lstat(dir);
  if (!st.isDirectory()) return `${dir} is not a directory${st.isSymbolicLink() ? ' (a symbolic link)' : ''}`;
  if (st.uid !== uid()) return `${dir} is owned by uid ${st.uid}, not by this user (uid ${uid()})`;
  if ((st.mode & 0o022) !== 0) return `${dir} is writable by ${(st.mode & 0o002) !== 0 ? 'everyone' : 'its group'} (mode ${(st.mode & 0o777).toString(8)})`;
  return null;
}

/**
 * Creates the directory of the default socket `socketPath` (mode 0700) when missing, and checks it:
 * throws a clear error when it is not this user's alone. `create: false` (a client) only checks
 * one that exists (a missing one: no meshlet there, which connecting reports).
 */
export async function securePrivateDir(socketPath: string, create: boolean): Promise<void> {
  const dir = path.dirname(socketPath);
  if (create) {
    await mkdir(dir, { mode: 0o700 }).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'EEXIST') throw new Error(`control socket directory ${dir}: ${err.message}`);
    });
  }
  let problem: string | null;
  try {
    problem = await dirProblem(dir);
  } catch (err) {
    if (!create && (err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw new Error(`control socket directory ${dir}: ${(err as Error).message}`);
  }
  if (problem !== null) {
    throw new Error(`control socket directory ${problem}: refusing it, since another user could put a socket there; remove it, or use --control-socket PATH (and --socket PATH for the CLI)`);
  }
}
