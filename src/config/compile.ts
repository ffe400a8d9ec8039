// Validated resources → Snapshot: listeners (with their inbound clusters first), virtual hosts,
// and the outbound clusters those routes reference. Plain data, ready to post to the workers.
import { buildCatalog } from './catalog.js';
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
  return { generation, listeners, virtualHosts, clusters: clusters.list, authz: compileAuthz(cat) };
}
