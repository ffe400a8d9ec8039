// VirtualService `http[].retries` (HTTPRetry) with Istio's semantics: a rule without `retries` gets
// Istio's default policy; `attempts: 0` (or no attempts) disables retries; `retryOn` lists
// conditions and bare status codes.
import type { RetrySpec } from '../snapshot.js';
import type { Fields } from './fields.js';
import { readDurationMs } from './values.js';

const RETRIES_FIELDS = ['attempts', 'perTryTimeout', 'retryOn', 'retryRemoteLocalities', 'retryIgnorePreviousHosts', 'backoff'];
const CONDITIONS = [
  '5xx', 'gateway-error', 'reset', 'connect-failure', 'refused-stream', 'retriable-4xx', 'retriable-status-codes',
  'unavailable', 'cancelled', 'deadline-exceeded', 'resource-exhausted', 'internal',
];
/** Valid in Istio (Envoy retry policies) but not modelled by meshlet. */
const UNMODELLED = ['reset-before-request', 'retriable-headers', 'envoy-ratelimited', 'http3-post-connect-failure'];
/** Istio >= 1.24: 503 is no longer retried by default. */
const DEFAULT_RETRY_ON = ['connect-failure', 'refused-stream', 'unavailable', 'cancelled', 'retriable-status-codes'];
/** Istio rejects these next to `attempts: 0`. */
const NEEDS_ATTEMPTS = ['perTryTimeout', 'retryOn', 'retryRemoteLocalities'];
const STATUS_CODE = /^[1-5][0-9][0-9]$/;

/** Istio's policy for a rule without `retries` (a fresh object each call). */
export function defaultRetries(): RetrySpec {
  return { attempts: 2, perTryTimeoutMs: 0, retryOn: [...DEFAULT_RETRY_ON], retriableStatusCodes: [] };
}

export function readRetries(rule: Fields): RetrySpec {
  const r = rule.object('retries', RETRIES_FIELDS);
  if (r === null) return defaultRetries();
  r.unsupported(['retryRemoteLocalities', 'retryIgnorePreviousHosts', 'backoff']);
  const attempts = r.number('attempts', { integer: true, min: 0 });
  const perTryTimeoutMs = readDurationMs(r, 'perTryTimeout', { hint: 'omit perTryTimeout to let each try run until the route\'s timeout' }) ?? 0;
  const on = readRetryOn(r);
  if (attempts !== null && attempts > 0) {
    return { attempts, perTryTimeoutMs, retryOn: on?.retryOn ?? [...DEFAULT_RETRY_ON], retriableStatusCodes: on?.codes ?? [] };
  }
  const configured = NEEDS_ATTEMPTS.filter((k) => r.has(k) && r.get(k) !== '');
  if ((attempts === 0 || !r.has('attempts')) && configured.length > 0) {
    const what = `${configured.join(' and ')} ${configured.length > 1 ? 'are' : 'is'} set`;
    r.ck.error(r.path, `retries are disabled (attempts is 0 or unset) but ${what}: set attempts, or remove them`);
  }
  return { attempts: 0, perTryTimeoutMs: 0, retryOn: [], retriableStatusCodes: [] };
}

/** `retryOn` split into conditions and status codes; null when absent or empty (Istio's default applies). */
function readRetryOn(r: Fields): { retryOn: string[]; codes: number[] } | null {
  const s = r.string('retryOn');
  if (s === null || s === '') return null;
  const retryOn: string[] = [];
  const codes: number[] = [];
  for (const token of s.split(',').map((t) => t.trim())) {
    if (STATUS_CODE.test(token)) {
      if (!codes.includes(Number(token))) codes.push(Number(token));
    } else if (CONDITIONS.includes(token)) {
      if (!retryOn.includes(token)) retryOn.push(token);
    } else if (UNMODELLED.includes(token)) {
      r.ck.warn(r.at('retryOn'), `retry condition ${token} is not supported by meshlet, ignored`);
    } else {
      r.ck.error(r.at('retryOn'), `"${token}" is not a retryOn condition (one of ${CONDITIONS.join(', ')}, or an HTTP status code)`);
    }
  }
  return { retryOn, codes };
}
