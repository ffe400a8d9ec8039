// The store's key layout under one prefix (design.md, last section):
//   <prefix>/config/<kind>/<namespace>/<name>   one resource, as applied (YAML)
//   <prefix>/config/generation                  rewritten by every apply/delete transaction
//   <prefix>/workloads/<namespace>/<name>       a registered WorkloadEntry (JSON), on its sidecar's lease
//   <prefix>/status/<sidecar>                   each sidecar's status (JSON), on its lease
// The generation of the config is the newest mod revision under config/ (the marker's, normally).

export interface StoreKeys {
  prefix: string;
  config: string;
  generation: string;
  workloads: string;
  status: string;
}

export function storeKeys(prefix: string): StoreKeys {
  return {
    prefix,
    config: `${prefix}/config/`,
    generation: `${prefix}/config/generation`,
    workloads: `${prefix}/workloads/`,
    status: `${prefix}/status/`,
  };
}

export function configKey(keys: StoreKeys, r: { kind: string; namespace: string; name: string }): string {
  return `${keys.config}${r.kind}/${r.namespace}/${r.name}`;
}

export function workloadKey(keys: StoreKeys, namespace: string, name: string): string {
  return `${keys.workloads}${namespace}/${name}`;
}

export function statusKey(keys: StoreKeys, sidecar: string): string {
  return `${keys.status}${sidecar}`;
}

/** `<kind>/<namespace>/<name>` after `under`, or null when the key has another shape. */
export function keyParts(key: string, under: string, segments: number): string[] | null {
  if (!key.startsWith(under)) return null;
  const parts = key.slice(under.length).split('/');
  return parts.length === segments && parts.every((p) => p !== '') ? parts : null;
}
