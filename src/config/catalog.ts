// The cross-resource view of a config: resources indexed by kind and host key, with Istio's
// precedence rules applied (first by file order wins) and every conflict reported on the loser:
// duplicate resources, two DestinationRules for a host, two VirtualServices claiming a name,
// colliding listeners.
import { hostAliases, hostKey } from './hosts.js';
import { planListeners, type PlannedListener } from './listeners.js';
import type {
  AuthorizationPolicyModel, DestinationRuleModel, Model, Parsed, PeerAuthenticationModel, RequestAuthenticationModel, ServiceEntryModel, SidecarModel,
  TelemetryModel, VirtualServiceModel, WorkloadEntryModel,
} from './model.js';
import { planPeerAuthn, type PeerAuthnPlan } from './peer-authn.js';
import { resourceKey } from './resource.js';

export interface OwnedVirtualService {
  vs: Parsed<VirtualServiceModel>;
  /** host names this VirtualService answers for after earlier ones took theirs */
  names: string[];
}

export interface Catalog {
  virtualServices: OwnedVirtualService[];
  /** host keys (exact or wildcard) named by any VirtualService: hosts they cover get no default route */
  routedKeys: Set<string>;
  /** every host name some VirtualService answers for */
  claimedNames: Set<string>;
  serviceEntries: Parsed<ServiceEntryModel>[];
  serviceEntriesByHost: Map<string, Parsed<ServiceEntryModel>[]>;
  /** host key → the DestinationRule that applies (the first one) */
  destinationRules: Map<string, Parsed<DestinationRuleModel>>;
  allDestinationRules: Parsed<DestinationRuleModel>[];
  workloadEntries: Parsed<WorkloadEntryModel>[];
  listeners: PlannedListener[];
  /** the PeerAuthentication in effect at each level */
  peerAuthn: PeerAuthnPlan;
  /** every AuthorizationPolicy, in file order (all apply to this workload) */
  authorizationPolicies: Parsed<AuthorizationPolicyModel>[];
  /** every Telemetry, in file order (which apply is decided with the workload: src/telemetry/policy.ts) */
  telemetries: Parsed<TelemetryModel>[];
  /** every RequestAuthentication, in file order (all apply to this workload, as AuthorizationPolicies do) */
  requestAuthentications: Parsed<RequestAuthenticationModel>[];
}

const where = (p: Parsed) => `${p.res.file} (document ${p.res.doc})`;

function ofKind<M extends Model>(list: Parsed[], kind: M['kind']): Parsed<M>[] {
  return list.filter((p): p is Parsed<M> => p.model.kind === kind);
}

export function buildCatalog(parsed: readonly Parsed[]): Catalog {
  const unique = dedupe(parsed);
  const serviceEntries = ofKind<ServiceEntryModel>(unique, 'ServiceEntry');
  const serviceEntriesByHost = new Map<string, Parsed<ServiceEntryModel>[]>();
  for (const se of serviceEntries) {
    for (const h of new Set(se.model.hosts.map((x) => hostKey(x, se.res.namespace)))) {
      serviceEntriesByHost.set(h, [...(serviceEntriesByHost.get(h) ?? []), se]);
    }
  }
  const allDestinationRules = ofKind<DestinationRuleModel>(unique, 'DestinationRule');
  const destinationRules = new Map<string, Parsed<DestinationRuleModel>>();
  for (const dr of allDestinationRules) {
    if (dr.model.host === '') continue;
    const key = hostKey(dr.model.host, dr.res.namespace);
    const first = destinationRules.get(key);
    if (first === undefined) destinationRules.set(key, dr);
    else dr.ck.warn('spec.host', `DestinationRule/${first.res.name} in ${where(first)} already configures host ${dr.model.host}; this one is ignored`);
  }
  const sidecars = ofKind<SidecarModel>(unique, 'Sidecar');
  for (const sc of sidecars.slice(1)) {
    sc.ck.warn('', `several Sidecars: meshlet opens the listeners of all of them (Istio applies one per workload; first is Sidecar/${sidecars[0]?.res.name})`);
  }
  const listeners = planListeners(sidecars, serviceEntries);
  return {
    ...claimHosts(ofKind<VirtualServiceModel>(unique, 'VirtualService')),
    serviceEntries,
    serviceEntriesByHost,
    destinationRules,
    allDestinationRules,
    workloadEntries: ofKind<WorkloadEntryModel>(unique, 'WorkloadEntry'),
    listeners,
    peerAuthn: planPeerAuthn(ofKind<PeerAuthenticationModel>(unique, 'PeerAuthentication'), listeners),
    authorizationPolicies: ofKind<AuthorizationPolicyModel>(unique, 'AuthorizationPolicy'),
    telemetries: ofKind<TelemetryModel>(unique, 'Telemetry'),
    requestAuthentications: ofKind<RequestAuthenticationModel>(unique, 'RequestAuthentication'),
  };
}

/** Duplicate `Kind/namespace/name`: an error on the later one, which is then left out. */
function dedupe(parsed: readonly Parsed[]): Parsed[] {
  const seen = new Map<string, Parsed>();
  const out: Parsed[] = [];
  for (const p of parsed) {
    const key = resourceKey(p.res);
    const first = seen.get(key);
    if (first !== undefined) {
      p.ck.error('metadata.name', `duplicate resource: ${key} is already defined in ${where(first)}`);
      continue;
    }
    seen.set(key, p);
    out.push(p);
  }
  return out;
}

/** Each host name belongs to the first VirtualService that claims it (Istio merges nothing here). */
function claimHosts(list: Parsed<VirtualServiceModel>[]): Pick<Catalog, 'virtualServices' | 'routedKeys' | 'claimedNames'> {
  const owner = new Map<string, Parsed<VirtualServiceModel>>();
  const routedKeys = new Set<string>();
  const virtualServices = list.map((vs) => {
    const names: string[] = [];
    for (const h of vs.model.hosts) {
      routedKeys.add(hostKey(h.value, vs.res.namespace));
      const taken: string[] = [];
      for (const name of hostAliases(h.value, vs.res.namespace)) {
        const prev = owner.get(name);
        if (prev === undefined) {
          owner.set(name, vs);
          names.push(name);
        } else if (prev !== vs) taken.push(`${name} (VirtualService/${prev.res.name} in ${where(prev)})`);
      }
      if (taken.length > 0) vs.ck.warn(h.path, `already claimed, ignored here (the first VirtualService wins): ${taken.join(', ')}`);
    }
    return { vs, names };
  });
  return { virtualServices, routedKeys, claimedNames: new Set(owner.keys()) };
}
