// Validated resources → Snapshot: listeners (with their inbound clusters first), virtual hosts,
// and the outbound clusters those routes reference. Plain data, ready to post to the workers.
import { buildCatalog } from './catalog.js';
import { hostKey } from './hosts.js';
import { compileAuthz } from './compile/authz.js';
import { ClusterTable } from './compile/clusters.js';
import { compileVirtualHosts } from './compile/routes.js';
import { compileTcpRoutes } from './compile/tcp-routes.js';
import type { Resource } from './resource.js';
import { mtlsModeFor } from './peer-authn.js';
import type { ListenerSpec, Snapshot } from './snapshot.js';
import { parseResources } from './validate/parse.js';

/** Builds the snapshot. `resources` must already have passed validation (issues are not re-reported). */
export function compileSnapshot(resources: readonly Resource[], generation: number): Snapshot {
  const cat = buildCatalog(parseResources(resources, []));
  const clusters = new ClusterTable(cat);
  const listeners = cat.listeners.map(
    (l): ListenerSpec => ({
      name: l.name,
      direction: l.direction,
      bind: l.bind,
      port: l.port,
      protocol: l.protocol,
      inboundClusterId: l.direction === 'inbound' ? clusters.inbound(l) : -1,
      mtlsMode: mtlsModeFor(cat.peerAuthn, l),
      appendForwardedFor: l.appendForwardedFor,
      traffic: l.traffic,
      tcpRoutes: compileTcpRoutes(cat, clusters, l),
    }),
  );
  const virtualHosts = compileVirtualHosts(cat, clusters);
  const services = cat.serviceEntries.flatMap((se) => (se.model.selector === null || se.model.hosts.length === 0 ? []
    : [{ host: hostKey(se.model.hosts[0] as string, se.res.namespace), namespace: se.res.namespace, selector: se.model.selector }]));
  const telemetry = cat.telemetries.map((t) => t.model.spec);
  const jwtRules = cat.requestAuthentications.flatMap((r) => r.model.rules ?? []);
  return {
    generation, listeners, virtualHosts, clusters: clusters.list, authz: compileAuthz(cat),
    ...(services.length > 0 ? { services } : {}), ...(telemetry.length > 0 ? { telemetry } : {}), ...(jwtRules.length > 0 ? { jwtRules } : {}),
  };
}
