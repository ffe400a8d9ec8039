// `--store etcd://HOST:PORT[,HOST:PORT…]/PREFIX` (or MESHLET_STORE) and the store's TLS files,
// parsed once for `run`, `apply`, `delete` and `mesh status`.
import { readFileSync } from 'node:fs';
import type { EtcdTls } from './etcd/client.js';

export interface StoreUrl {
  endpoints: string[];
  /** key prefix without a trailing slash, e.g. `/meshlet` */
  prefix: string;
}

export interface StoreTlsFiles {
  ca?: string | undefined;
  cert?: string | undefined;
  key?: string | undefined;
}

export const STORE_ARG_OPTIONS = {
  store: { type: 'string' },
  'store-ca': { type: 'string' },
  'store-cert': { type: 'string' },
  'store-key': { type: 'string' },
  /** run: how long to wait for the store at start; commands: the deadline of each store call */
  'store-timeout': { type: 'string' },
} as const;

export function parseStoreUrl(value: string): StoreUrl {
  const m = /^etcd:\/\/([^/]+)(\/.*)?$/.exec(value.trim());
  if (m === null) throw new Error(`--store: expected etcd://HOST:PORT[,HOST:PORT…]/PREFIX, got "${value}"`);
  const endpoints = (m[1] as string).split(',').map((hp) => {
    const h = hp.trim();
    if (h === '') throw new Error(`--store: empty endpoint in "${value}"`);
    const port = /:(\d{1,5})$/.exec(h);
    if (port === null) return `${h}:2379`;
    if (Number(port[1]) < 1 || Number(port[1]) > 65535) throw new Error(`--store: bad port in "${h}"`);
    return h;
  });
  const prefix = (m[2] ?? '/meshlet').replace(/\/+$/, '');
  if (prefix === '') throw new Error(`--store: the prefix must not be empty (etcd://…/meshlet), got "${value}"`);
  return { endpoints, prefix };
}

/** The --store URL given, else MESHLET_STORE, else null. */
export function storeUrlFrom(flag: string | undefined, env: NodeJS.ProcessEnv = process.env): StoreUrl | null {
  const value = flag ?? (env.MESHLET_STORE === undefined || env.MESHLET_STORE === '' ? undefined : env.MESHLET_STORE);
  return value === undefined ? null : parseStoreUrl(value);
}

/** --store-ca (required for TLS), --store-cert and --store-key (client certificate, both or neither). */
export function readStoreTls(files: StoreTlsFiles): EtcdTls | null {
  if (files.ca === undefined) {
    if (files.cert !== undefined || files.key !== undefined) throw new Error('--store-cert/--store-key need --store-ca (TLS to etcd)');
    return null;
  }
  if ((files.cert === undefined) !== (files.key === undefined)) throw new Error('--store-cert and --store-key go together');
  const read = (f: string, flag: string): Buffer => {
    try {
      return readFileSync(f);
    } catch (err) {
      throw new Error(`${flag}: ${(err as Error).message}`);
    }
  };
  return {
    ca: read(files.ca, '--store-ca'),
    cert: files.cert === undefined ? null : read(files.cert, '--store-cert'),
    key: files.key === undefined ? null : read(files.key, '--store-key'),
  };
}
