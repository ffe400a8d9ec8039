// VirtualService `mirror` / `mirrors`: a copy of the request goes to the mirror destination with
// its Host suffixed `-shadow` (as Envoy does); the answer is read and dropped, and neither it nor a
// failure can affect or slow the main request (fire and forget, no retries, nothing waited on).
import type { MirrorSpec } from '../../config/snapshot.js';
import type { ProxyError } from '../../http/errors.js';
import type { UpstreamController, UpstreamHandler, UpstreamRequest } from '../../upstream/codec.js';
import type { ClusterRuntime } from '../../upstream/cluster.js';
import type { ClientBody } from '../../request/client-body.js';
import { roll } from '../fault/fault.js';

export class CompiledMirror {
  readonly cluster: ClusterRuntime | null;
  readonly percent: number;
  constructor(spec: MirrorSpec, clusters: ClusterRuntime[]) {
    this.cluster = spec.clusterId >= 0 ? (clusters[spec.clusterId] ?? null) : null;
    this.percent = spec.percent;
  }
}

/** Stateless sink for shadow responses: every callback discards. */
const SHADOW_SINK: UpstreamHandler = {
  onUpstreamStart(_controller: UpstreamController): void {},
  onUpstreamHeaders(_status: number, _headers: string[]): void {},
  onUpstreamData(_chunk: Buffer): void {},
  onUpstreamEnd(): void {},
  onUpstreamError(_err: ProxyError): void {},
};

/** `host[:port]` → `host-shadow[:port]` */
export function shadowAuthority(authority: string): string {
  const colon = authority.lastIndexOf(':');
  if (colon > 0 && !authority.endsWith(']')) return `${authority.slice(0, colon)}-shadow${authority.slice(colon)}`;
  return `${authority}-shadow`;
}

/**
 * Sends the shadow copies of a request. A request with a body is mirrored once the body has
 * arrived whole within the replay buffer (`body`, `length`); larger bodies are not mirrored.
 */
export function sendMirrors(mirrors: CompiledMirror[], req: UpstreamRequest, body: ClientBody | null, length: number): void {
  for (const mirror of mirrors) {
    const cluster = mirror.cluster;
    if (cluster === null || !roll(mirror.percent)) continue;
    const ep = cluster.pick(-1, null);
    if (ep === null) continue;
    const headers = req.headers.slice();
    for (let i = 0; i < headers.length; i += 2) {
      if (headers[i] === 'host') headers[i + 1] = shadowAuthority(headers[i + 1] as string);
    }
    const copy = body === null ? null : body.replayStream();
    ep.pool.dispatch({ method: req.method, path: req.path, headers, body: copy, contentLength: body === null ? -1 : length }, SHADOW_SINK);
  }
}
