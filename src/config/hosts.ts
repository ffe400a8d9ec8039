// Host name identity: a short name (no dot) written in namespace `ns` means the Kubernetes service
// `name.ns.svc.cluster.local` and also answers for `name.ns` and `name.ns.svc`. Every lookup across
// resources (VirtualService ↔ ServiceEntry ↔ DestinationRule) goes through `hostKey`.

export const CLUSTER_DOMAIN = 'svc.cluster.local';

function isShort(host: string): boolean {
  return !host.includes('.') && !host.includes(':') && host !== '*';
}

/** Canonical lower-case name used to join resources. */
export function hostKey(host: string, namespace: string): string {
  const h = host.toLowerCase();
  return isShort(h) ? `${h}.${namespace}.${CLUSTER_DOMAIN}` : h;
}

/** Every name a host answers for (for VirtualHostSpec.hosts): the key first for FQDNs, as written first for short names. */
export function hostAliases(host: string, namespace: string): string[] {
  const h = host.toLowerCase();
  if (!isShort(h)) return [h];
  return [h, `${h}.${namespace}`, `${h}.${namespace}.svc`, `${h}.${namespace}.${CLUSTER_DOMAIN}`];
}

/** Whether a VirtualService host key (exact, `*.suffix` or `*`) covers the host key `key`. */
export function hostCovers(pattern: string, key: string): boolean {
  if (pattern === key || pattern === '*') return true;
  return pattern.startsWith('*.') && key.endsWith(pattern.slice(1));
}
