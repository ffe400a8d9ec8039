// Turns each Resource into its typed model, reporting every problem of its spec. Used by both
// validation (which keeps the issues) and compilation (which reads the models).
import type { ConfigIssue } from '../issues.js';
import type { Model, Parsed } from '../model.js';
import { resourceLabel, type Resource, type ResourceKind } from '../resource.js';
import { Checker } from './checker.js';
import { Fields } from './fields.js';
import { AUTHORIZATION_POLICY_FIELDS, parseAuthorizationPolicy } from './authorization-policy.js';
import { DESTINATION_RULE_FIELDS, parseDestinationRule } from './destination-rule.js';
import { PEER_AUTHENTICATION_FIELDS, parsePeerAuthentication } from './peer-authentication.js';
import { SERVICE_ENTRY_FIELDS, parseServiceEntry } from './service-entry.js';
import { SIDECAR_FIELDS, parseSidecar } from './sidecar.js';
import { VIRTUAL_SERVICE_FIELDS, parseVirtualService } from './virtual-service.js';
import { WORKLOAD_FIELDS, parseWorkloadEntry } from './workload-entry.js';
import { TELEMETRY_FIELDS, parseTelemetry } from './telemetry.js';
import { REQUEST_AUTHENTICATION_FIELDS, parseRequestAuthentication } from './request-authentication.js';

const SPEC_FIELDS: Record<ResourceKind, readonly string[]> = {
  VirtualService: VIRTUAL_SERVICE_FIELDS,
  DestinationRule: DESTINATION_RULE_FIELDS,
  ServiceEntry: SERVICE_ENTRY_FIELDS,
  WorkloadEntry: WORKLOAD_FIELDS,
  Sidecar: SIDECAR_FIELDS,
  PeerAuthentication: PEER_AUTHENTICATION_FIELDS,
  AuthorizationPolicy: AUTHORIZATION_POLICY_FIELDS,
  Telemetry: TELEMETRY_FIELDS,
  RequestAuthentication: REQUEST_AUTHENTICATION_FIELDS,
};

export function parseResource(res: Resource, sink: ConfigIssue[]): Parsed {
  const ck = new Checker({ file: res.file, doc: res.doc, resource: resourceLabel(res) }, sink);
  // security policies may have an empty spec (an ALLOW policy without rules: allow nothing)
  const required = !['PeerAuthentication', 'AuthorizationPolicy', 'Telemetry', 'RequestAuthentication'].includes(res.kind);
  const spec = Fields.of(ck, res.spec, 'spec', SPEC_FIELDS[res.kind], required) ?? Fields.empty(ck, 'spec');
  return { res, ck, model: parseSpec(res, spec) };
}

function parseSpec(res: Resource, spec: Fields): Model {
  switch (res.kind) {
    case 'VirtualService':
      return parseVirtualService(spec, res);
    case 'DestinationRule':
      return parseDestinationRule(spec, res.annotations);
    case 'ServiceEntry':
      return parseServiceEntry(spec);
    case 'WorkloadEntry':
      return parseWorkloadEntry(spec);
    case 'Sidecar':
      return parseSidecar(spec, res.annotations);
    case 'PeerAuthentication':
      return parsePeerAuthentication(spec, res);
    case 'AuthorizationPolicy':
      return parseAuthorizationPolicy(spec, res);
    case 'Telemetry':
      return parseTelemetry(spec, res);
    case 'RequestAuthentication':
      return parseRequestAuthentication(spec, res);
  }
}

export function parseResources(resources: readonly Resource[], sink: ConfigIssue[]): Parsed[] {
  return resources.map((r) => parseResource(r, sink));
}
