// ServiceEntry TCP and TLS ports with addresses: Istio opens an outbound listener on each address
// and port of such a service (its VIP, reached through iptables capture); meshlet, which captures
// nothing, listens on those that are loopback addresses (127.0.0.0/8, ::1), so an app connects to
// the service's address as it would under Istio. Other addresses cannot be listened on (warned):
// such a service is reached through a Sidecar egress port. A Sidecar listener on the same address
// and port takes precedence (warned).
import type { PlannedListener } from './listeners.js';
import { listenerTraffic, protocolOfName } from './listeners.js';
import type { Parsed, ServiceEntryModel } from './model.js';

function isLoopback(ip: string): boolean {
  return ip === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(ip);
}

export function planServiceEntryListeners(serviceEntries: readonly Parsed<ServiceEntryModel>[], planned: PlannedListener[],
  conflict: (planned: PlannedListener[], p: PlannedListener) => string | null): void {
  for (const se of serviceEntries) {
    const { addresses, ports, hosts } = se.model;
    if (addresses.length === 0) continue;
    ports.forEach((port, i) => {
      const protocol = port.protocol ?? protocolOfName(port.name) ?? '';
      const traffic = protocol === '' ? null : listenerTraffic(protocol, 'outbound');
      if (traffic === null || traffic === 'http') return;
      const path = `spec.ports[${i}]`;
      for (const address of addresses) {
        if (!isLoopback(address)) {
          se.ck.warn('spec.addresses', `${protocol} port ${port.number} is not listened on at ${address}: meshlet listens on loopback addresses only (reach the service through a Sidecar egress port)`);
          continue;
        }
        const p: PlannedListener = {
          name: `outbound_${address}_${port.number}`,
          direction: 'outbound',
          bind: address,
          port: port.number,
          protocol,
          traffic,
          defaultEndpoint: null,
          hosts: hosts.map((h) => `${se.res.namespace}/${h}`),
          namespace: se.res.namespace,
          origin: `ServiceEntry/${se.res.namespace}/${se.res.name} ${path}`,
          ck: se.ck,
          path,
          appendForwardedFor: false,
        };
        const clash = conflict(planned, p);
        if (clash === null) planned.push(p);
        else se.ck.warn(path, `not listened on: ${clash}`);
      }
    });
  }
}
