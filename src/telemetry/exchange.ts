// A worker's side of the metadata exchange and of the stats record's peer ids. Inbound: a request's
// x-envoy-peer-metadata(-id) are always taken off; the metadata is believed only when the mTLS
// peer's certificate names its namespace and service account, and then the response carries this
// sidecar's own. Outbound: requests to mesh endpoints (every endpoint of the cluster reached over
// ISTIO_MUTUAL) carry this sidecar's metadata; the server's comes back in the response, believed
// under the same rule against the upstream certificate; otherwise the endpoint's config (its labels
// and WorkloadEntry) stands in, as Istio's client falls back to the endpoint's metadata.
// Each distinct peer is decoded once and interned once (src/stats/strings.ts): a request carries
// only a number.
import type { EndpointSpec } from '../config/snapshot.js';
import type { StringTableWriter } from '../stats/strings.js';
import {
  decodePeerMetadata, metadataMatchesPrincipal, PEER_METADATA_HEADER, PEER_METADATA_ID_HEADER, type OwnMetadata,
} from './peer-metadata.js';
import type { MxOnce } from './mx-once.js';
import { encodePeer } from './peer-key.js';
import { workloadLabels, type WorkloadMeta } from './workload.js';

/** decoded header values kept per worker; the cache starts over when it is full */
const MAX_DECODED = 1024;
const PREFIX = 'x-envoy-peer-metadata';

interface Decoded {
  /** null: not a valid Struct */
  meta: WorkloadMeta | null;
  /** the principal last checked against it, and the answer */
  principal: string;
  id: number;
}

/** What a stats id is kept with on an endpoint: the principal it was interned for. */
export interface EndpointPeerCache {
  statsPeer: number;
  statsPeerPrincipal: string;
  readonly spec: EndpointSpec;
}

export class PeerExchange {
  /** this sidecar's header values; null when its workload is not known (nothing is sent) */
  readonly own: OwnMetadata | null;
  private readonly strings: StringTableWriter | null;
  private readonly decoded = new Map<string, Decoded>();
  private readonly principalOnly = new Map<string, number>();
  private readonly hosts = new Map<string, number>();
  /**
   * The last header value believed, its principal and answer: a sidecar mostly hears the same
   * peer, and comparing a value with the last one is cheaper than hashing it (a fresh string of a
   * few hundred bytes per request) for the map.
   */
  private lastValue = '';
  private lastPrincipal = '';
  private lastId = -2;
  /** set by inbound(): whether the request's metadata was believed */
  trusted = false;

  constructor(own: OwnMetadata | null, strings: StringTableWriter | null) {
    this.own = own;
    this.strings = strings;
  }

  /**
   * An inbound request: takes the metadata headers off `headers` (in place) and returns the peer's
   * stats id (-1: nothing known). `trusted` tells whether the response should carry ours. On a
   * connection exchanging metadata once (`once`), the first request's answer stands for the
   * connection's later requests, which carry none.
   */
  inbound(headers: string[], principal: string | null, once: MxOnce | null = null): number {
    this.trusted = false;
    const value = takeMetadata(headers);
    if (once === null) return this.inboundValue(value, principal);
    // (a request without metadata is not answered with ours: the caller has it)
    if (value === null && once.peerId !== -2) return once.peerId;
    const id = this.inboundValue(value, principal);
    if (value !== null) once.peerId = id;
    return id;
  }

  private inboundValue(value: string | null, principal: string | null): number {
    if (value !== null && principal !== null) {
      const id = this.believe(value, principal);
      if (id !== -2) {
        this.trusted = true;
        return id;
      }
    }
    return principal === null ? -1 : this.principalId(principal);
  }

  /**
   * An outbound response from a mesh endpoint: metadata taken off; its stats id, or -2 when not
   * believed. On a connection exchanging metadata once (`once`), the peer believed from an earlier
   * response stands for the later ones, which carry none.
   */
  outboundResponse(headers: string[], principal: string | null, once: MxOnce | null = null): number {
    const value = takeMetadata(headers);
    if (value === null || principal === null) return once === null || value !== null ? -2 : once.peerId;
    const id = this.believe(value, principal);
    if (once !== null && id !== -2) once.peerId = id;
    return id;
  }

  /** The endpoint's config as the peer (labels, WorkloadEntry name), with the upstream's verified id. */
  endpointPeer(ep: EndpointPeerCache, principal: string | null): number {
    const p = principal ?? '';
    if (ep.statsPeer !== -2 && ep.statsPeerPrincipal === p) return ep.statsPeer;
    const spec = ep.spec;
    const m = /^WorkloadEntry\/([^/]+)\/(.+)$/.exec(spec.source);
    const meta: WorkloadMeta = {
      name: m === null ? '' : (m[2] as string), namespace: m === null ? '' : (m[1] as string), instance: '',
      labels: spec.labels, serviceAccount: '', cluster: '',
    };
    const labels = workloadLabels(meta);
    // a ServiceEntry endpoint names no workload: Istio's canonical-name default would be ''
    if (m === null && spec.labels.app === undefined) labels.canonicalService = '';
    ep.statsPeer = this.intern(encodePeer(labels, p));
    ep.statsPeerPrincipal = p;
    return ep.statsPeer;
  }

  /** An inbound Host as the destination_service of a workload no service selects (looked up without building a string). */
  host(authority: string): number {
    let id = this.hosts.get(authority);
    if (id === undefined) {
      id = this.intern(`H${authority}`);
      // a full table answers -1 for good: remember that too, up to a bound
      if (id >= 0 || this.hosts.size < MAX_DECODED) this.hosts.set(authority, id);
    }
    return id;
  }

  /** stats id of believed metadata; -2 when it is malformed or does not match the principal. */
  private believe(value: string, principal: string): number {
    if (value === this.lastValue && principal === this.lastPrincipal) return this.lastId;
    const id = this.believeDecoded(value, principal);
    this.lastValue = value;
    this.lastPrincipal = principal;
    this.lastId = id;
    return id;
  }

  private believeDecoded(value: string, principal: string): number {
    let d = this.decoded.get(value);
    if (d === undefined) {
      if (this.decoded.size >= MAX_DECODED) this.decoded.clear();
      d = { meta: decodePeerMetadata(value), principal: '', id: -2 };
      this.decoded.set(value, d);
    }
    if (d.principal !== principal) {
      d.principal = principal;
      d.id = d.meta !== null && metadataMatchesPrincipal(d.meta, principal) ? this.intern(encodePeer(workloadLabels(d.meta), principal)) : -2;
      // a full string table (-1) still counts as believed: the labels read "unknown"
    }
    return d.id;
  }

  private principalId(principal: string): number {
    let id = this.principalOnly.get(principal);
    if (id === undefined) {
      id = this.intern(encodePeer(null, principal));
      if (id >= 0) this.principalOnly.set(principal, id);
    }
    return id;
  }

  private intern(s: string): number {
    return this.strings === null ? -1 : this.strings.intern(s);
  }
}

/** Removes x-envoy-peer-metadata and -id from a flat header list; returns the metadata's (first) value. */
export function takeMetadata(headers: string[]): string | null {
  let value: string | null = null;
  let found = false;
  for (let i = 0; i < headers.length; i += 2) {
    const name = headers[i] as string;
    if (name.length >= PREFIX.length && name.charCodeAt(0) === 120 && name.startsWith(PREFIX)) {
      found = true;
      if (value === null && name === PEER_METADATA_HEADER) value = headers[i + 1] as string;
    }
  }
  if (!found) return null;
  let w = 0;
  for (let r = 0; r < headers.length; r += 2) {
    const name = headers[r] as string;
    if (name === PEER_METADATA_HEADER || name === PEER_METADATA_ID_HEADER) continue;
    headers[w] = name;
    headers[w + 1] = headers[r + 1] as string;
    w += 2;
  }
  headers.length = w;
  return value;
}
