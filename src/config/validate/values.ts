// Checks for the small value types Istio fields share: ports, durations, percentages, IPs, DNS
// names, label maps, protocols, header names (values: wire-text.ts). Each is written once and used by every kind.
import { isIP } from 'node:net';
import { keyPath } from './checker.js';
import type { Fields } from './fields.js';

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const HOST_LABEL = /^[A-Za-z0-9]([-A-Za-z0-9]*[A-Za-z0-9])?$/;
const LABEL_NAME = /^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;

/** Istio's prefix for unix domain socket addresses, which meshlet does not support. */
export function isUnixAddress(s: string): boolean {
  return s.startsWith('unix://');
}
export const UNIX_UNSUPPORTED = 'unix domain sockets are not supported by meshlet; use IP:port';

export function isIp(s: string): boolean {
  return isIP(s) !== 0;
}

/** RFC 1123 label (k8s namespace, subset and port names). */
export function isDnsLabel(s: string): boolean {
  return s.length <= 63 && DNS_LABEL.test(s);
}

/** RFC 1123 subdomain (k8s object names). */
export function isDnsSubdomain(s: string): boolean {
  return s.length <= 253 && s.split('.').every((l) => l.length <= 63 && DNS_LABEL.test(l));
}

export interface HostRules {
  /** `*.example.com` allowed */
  wildcard: boolean;
  /** bare `*` allowed */
  star: boolean;
  /** IP literals allowed */
  ip: boolean;
}

/** Why `host` is not a valid DNS host name under `rules`, or null when it is. */
export function hostProblem(host: string, rules: HostRules): string | null {
  if (host === '*') return rules.star ? null : 'host * is not allowed here';
  if (rules.ip && isIp(host)) return null;
  if (host.length > 255) return 'host name is longer than 255 characters';
  const labels = host.split('.');
  if (labels[0] === '*') {
    if (!rules.wildcard) return `wildcard host ${host} is not allowed here`;
    labels.shift();
  }
  for (const l of labels) {
    if (l.includes('*')) return `invalid host ${host}: a wildcard must be the whole leftmost label (*.example.com)`;
    if (l.length > 63 || !HOST_LABEL.test(l)) return `invalid host ${host}: "${l}" is not a valid DNS label`;
  }
  return null;
}

/** Port number 1..65535. */
export function readPort(f: Fields, key: string, required = false): number | null {
  return f.number(key, { required, integer: true, min: 1, max: 65535 });
}

const UNIT_NS: Record<string, number> = { ns: 1, us: 1e3, µs: 1e3, μs: 1e3, ms: 1e6, s: 1e9, m: 60e9, h: 3600e9 };
const DURATION = /^(?:(?:\d+\.?\d*|\.\d+)(?:ns|us|µs|μs|ms|s|m|h))+$/;
const DURATION_PART = /(\d+\.?\d*|\.\d+)(ns|us|µs|μs|ms|s|m|h)/g;

/** Go-style duration ("1.5s", "300ms", "1m30s") in nanoseconds, or null when malformed. */
export function parseDurationNs(s: string): number | null {
  if (!DURATION.test(s)) return null;
  let ns = 0;
  for (const m of s.matchAll(DURATION_PART)) ns += Number(m[1]) * (UNIT_NS[m[2] as string] as number);
  return Math.round(ns);
}

/** The longest timer Node.js can set (2^31-1 ms, about 24.8 days); a longer one fires at once. */
export const MAX_TIMER_MS = 2147483647;
/** MAX_TIMER_MS in duration syntax, for messages. */
const MAX_TIMER_TEXT = '596h31m23.647s';

export interface DurationRule {
  /** largest value in ms (default MAX_TIMER_MS: every duration meshlet waits for becomes a timer) */
  maxMs?: number;
  /** appended to the "too long" error, e.g. how to get "no timeout" */
  hint?: string;
}

/**
 * Istio duration field in ms: at least 1ms, millisecond precision, and at most `rule.maxMs`.
 * Istio's protobuf Duration allows far more, but meshlet waits for these with Node.js timers, which
 * cannot hold more than 2^31-1 ms (a longer one fires at once): refused, naming the field and the maximum.
 */
export function readDurationMs(f: Fields, key: string, rule: DurationRule = {}): number | null {
  const s = f.string(key);
  if (s === null) return null;
  const ns = parseDurationNs(s);
  if (ns === null) {
    f.ck.error(f.at(key), `"${s}" is not a duration (write e.g. "1.5s", "300ms", "2m")`);
    return null;
  }
  const maxMs = rule.maxMs ?? MAX_TIMER_MS;
  if (!(ns <= maxMs * 1e6)) {
    const max = maxMs === MAX_TIMER_MS ? `${MAX_TIMER_TEXT} (${MAX_TIMER_MS}ms, the longest timer Node.js can set)` : `${maxMs}ms`;
    f.ck.error(f.at(key), `duration ${s} is longer than meshlet's maximum of ${max}${rule.hint === undefined ? '' : `; ${rule.hint}`}`);
    return null;
  }
  if (ns < 1e6) {
    f.ck.error(f.at(key), `duration ${s} must be at least 1ms`);
    return null;
  }
  if (ns % 1e6 !== 0) {
    f.ck.error(f.at(key), `duration ${s}: only millisecond precision is supported`);
    return null;
  }
  return ns / 1e6;
}

/** Istio `Percent` block (`{value: 0..100}`, fractions allowed) at `key`; null when absent. `{}` is 0 (proto3). */
export function readPercent(f: Fields, key: string): number | null {
  const p = f.object(key, ['value']);
  if (p === null) return null;
  return p.number('value', { min: 0, max: 100 }) ?? 0;
}

/** Kubernetes label key (`[prefix/]name`) and value rules. */
function labelProblem(key: string, value: string): string | null {
  const slash = key.lastIndexOf('/');
  const prefix = slash >= 0 ? key.slice(0, slash) : null;
  const name = key.slice(slash + 1);
  if (prefix !== null && !isDnsSubdomain(prefix)) return `label key prefix "${prefix}" is not a DNS subdomain`;
  if (name.length === 0 || name.length > 63 || !LABEL_NAME.test(name)) return `invalid label key "${key}"`;
  if (value.includes('*')) return `wildcard is not supported in labels: "${key}=${value}"`;
  if (value !== '' && (value.length > 63 || !LABEL_NAME.test(value))) return `invalid label value "${value}"`;
  return null;
}

/** A labels map (string → string) with k8s label syntax checked. */
export function readLabels(f: Fields, key: string): Record<string, string> | null {
  const labels = f.stringMap(key);
  if (labels === null) return null;
  for (const [k, v] of Object.entries(labels)) {
    const problem = labelProblem(k, v);
    if (problem !== null) f.ck.error(keyPath(f.at(key), k), problem);
  }
  return labels;
}

export const PROTOCOLS = ['HTTP', 'HTTPS', 'HTTP2', 'GRPC', 'GRPC-WEB', 'HTTP_PROXY', 'TCP', 'TLS', 'MONGO', 'MYSQL', 'REDIS', 'UDP'];
export const HTTP_PROTOCOLS = ['HTTP', 'HTTP2', 'GRPC', 'GRPC-WEB', 'HTTP_PROXY'];

/** Istio port protocol, upper-cased (Istio parses it case-insensitively); null when absent. */
export function readProtocol(f: Fields, key: string): string | null {
  const p = f.string(key);
  if (p === null || p === '') return null;
  const up = p.toUpperCase();
  if (!PROTOCOLS.includes(up)) {
    f.ck.error(f.at(key), `unsupported protocol ${p} (one of ${PROTOCOLS.join(', ')})`);
    return null;
  }
  return up;
}

/** Optional port name: an RFC 1123 label. */
export function readPortName(f: Fields, key: string): string | null {
  const n = f.string(key);
  if (n !== null && !isDnsLabel(n)) f.ck.error(f.at(key), `invalid port name "${n}" (lowercase letters, digits and '-')`);
  return n;
}

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

/** RFC 7230 token: what an HTTP/1.1 header name may contain. */
export function isToken(s: string): boolean {
  return TOKEN.test(s);
}
