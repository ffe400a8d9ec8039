// The upstream attempt layer with a stub codec (scripted pools) and a stub owner (the downstream):
// retries by policy and before a request, per-try timeouts, URX, admission overflow, the endpoint
// bookkeeping balanced, nothing delivered after release.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { RetrySpec } from '../../../src/config/snapshot.js';
import { RetryBudget } from '../../../src/filters/retry/retry-budget.js';
import { RetryPolicy } from '../../../src/filters/retry/retry-policy.js';
import { upstreamConnectFailure, upstreamConnectionTermination, type ProxyError } from '../../../src/http/errors.js';
import { FLAG_UF, FLAG_URX, flagNames } from '../../../src/stats/flags.js';
import { UpstreamAttempt, takeAttempt, type AttemptOwner } from '../../../src/upstream/attempt/attempt.js';
import type { ClusterRuntime } from '../../../src/upstream/cluster.js';
import type { UpstreamController, UpstreamHandler, UpstreamPool, UpstreamRequest } from '../../../src/upstream/codec.js';
import type { Endpoint } from '../../../src/upstream/endpoint.js';
import { OVERFLOW, QUEUED, type AdmissionWaiter } from '../../../src/upstream/shared/admission.js';

type Script = (h: UpstreamHandler, c: StubController) => void;

class StubController implements UpstreamController {
  readonly signalsReadEnd = true;
  readonly headersValidated = true;
  aborted: Error | null = null;
  recycled = 0;
  pause(): void {}
  resume(): void {}
  abort(reason: Error): void { this.aborted = reason; }
  describe(): string { return 'stub'; }
  recycle(): void { this.recycled++; }
}

/** An endpoint whose pool answers each dispatch with the next script (the last one repeats). */
class StubEndpoint {
  inflight = 0;
  begins = 0;
  ends = 0;
  dispatches = 0;
  readonly controllers: StubController[] = [];
  readonly pool: UpstreamPool;
  constructor(readonly key: string, scripts: Script[]) {
    const self = this;
    this.pool = {
      origin: key, connectionCount: 0, saturated: false,
      dispatch(_req: UpstreamRequest, h: UpstreamHandler) {
        const c = new StubController();
        self.controllers.push(c);
        const script = scripts[Math.min(self.dispatches, scripts.length - 1)] as Script;
        self.dispatches++;
        h.onUpstreamStart(c);
        script(h, c);
      },
      close: async () => {}, destroy: async () => {},
    } as unknown as UpstreamPool;
  }
  begin(): void { this.inflight++; this.begins++; }
  end(): void { this.inflight--; this.ends++; }
  observeLatency(): void {}
}

function cluster(eps: StubEndpoint[], opts: { admission?: unknown } = {}): ClusterRuntime {
  return {
    name: 'outbound|80||svc',
    spec: { lb: 'ROUND_ROBIN' },
    admission: opts.admission ?? null,
    outlier: null,
    hash: null,
    pick(_key: number, exclude: Endpoint | null) {
      const others = eps.filter((e) => (e as unknown) !== exclude);
      return ((others[0] ?? eps[0]) ?? null) as unknown as Endpoint | null;
    },
  } as unknown as ClusterRuntime;
}

class Owner implements AttemptOwner {
  events: string[] = [];
  error: ProxyError | null = null;
  flags = 0;
  status = 0;
  body = '';
  settled: Promise<void>;
  private done!: () => void;
  constructor() { this.settled = new Promise((r) => { this.done = r; }); }
  onAttemptHeaders(status: number): void { this.status = status; this.events.push(`headers ${status}`); }
  onAttemptData(chunk: Buffer): void { this.body += chunk.toString(); }
  onAttemptReadEnd(): void {}
  onAttemptTrailers(trailers: string[]): void { this.events.push(`trailers ${trailers.join(' ')}`); }
  onAttemptEnd(): void { this.events.push('end'); this.done(); }
  onAttemptError(err: ProxyError): void { this.error = err; this.events.push(`error ${flagNames(err.flag)}`); this.done(); }
  addFlags(bits: number): void { this.flags |= bits; }
}

const ok = (status = 200): Script => (h) => { h.onUpstreamHeaders(status, ['content-length', '2']); h.onUpstreamData(Buffer.from('ok')); h.onUpstreamEnd(); };
const refused: Script = (h) => h.onUpstreamError(upstreamConnectFailure('remote connection failure', 'ECONNREFUSED 127.0.0.1:1', 'ECONNREFUSED'));
const staleReset: Script = (h) => h.onUpstreamError(upstreamConnectionTermination('socket closed before any response byte', true));

function policy(p: Partial<RetrySpec>): RetryPolicy {
  return new RetryPolicy({ attempts: 2, perTryTimeoutMs: 0, retryOn: ['connect-failure', 'refused-stream', 'unavailable', 'cancelled', 'retriable-status-codes'], retriableStatusCodes: [], ...p });
}

function request(): UpstreamRequest {
  return { method: 'GET', path: '/', headers: ['host', 'svc'], body: null, contentLength: -1 };
}

test('a response goes to the owner as it came; the endpoint is begun once and ended once at release', async () => {
  const ep = new StubEndpoint('a:80', [ok()]);
  const owner = new Owner();
  const a = new UpstreamAttempt(owner, cluster([ep]), policy({}), request(), null, -1, new RetryBudget());
  a.start();
  await owner.settled;
  assert.deepEqual(owner.events, ['headers 200', 'end']);
  assert.equal(owner.body, 'ok');
  a.release();
  a.release();
  assert.deepEqual([ep.begins, ep.ends, ep.inflight], [1, 1, 0]);
});

test('a connect failure is retried on another endpoint (Istio\'s default policy); its endpoints are balanced', async () => {
  const bad = new StubEndpoint('bad:80', [refused]);
  const good = new StubEndpoint('good:80', [ok()]);
  const owner = new Owner();
  const a = new UpstreamAttempt(owner, cluster([bad, good]), policy({}), request(), null, -1, new RetryBudget());
  a.start();
  await owner.settled;
  a.release();
  assert.deepEqual(owner.events, ['headers 200', 'end']);
  assert.equal(a.retriesDone, 1);
  assert.equal(owner.flags & FLAG_URX, 0, 'a retry that succeeded is not URX');
  assert.deepEqual([bad.begins, bad.ends, good.begins, good.ends], [1, 1, 1, 1]);
});

test('retries used up: the last failure with URX (UF,URX), after attempts + 1 tries', async () => {
  const bad = new StubEndpoint('bad:80', [refused]);
  const owner = new Owner();
  const a = new UpstreamAttempt(owner, cluster([bad]), policy({ attempts: 2 }), request(), null, -1, new RetryBudget());
  a.start();
  await owner.settled;
  a.release();
  assert.equal(owner.error?.flag, FLAG_UF | FLAG_URX);
  assert.equal(bad.dispatches, 3);
  assert.equal(bad.inflight, 0);
});

test('a retriable status is retried; when retries run out the last response is delivered with URX', async () => {
  const ep = new StubEndpoint('a:80', [ok(503)]);
  const owner = new Owner();
  const a = new UpstreamAttempt(owner, cluster([ep]), policy({ attempts: 1, retryOn: ['5xx'] }), request(), null, -1, new RetryBudget());
  a.start();
  await owner.settled;
  a.release();
  assert.deepEqual(owner.events, ['headers 503', 'end']);
  assert.equal(ep.dispatches, 2);
  assert.equal(ep.controllers[0]?.aborted?.message.includes('503 retried'), true, 'the first response was dropped');
  assert.equal(owner.flags & FLAG_URX, FLAG_URX);
});

test('a per-try timeout abandons the try and retries; the timed-out connection is aborted', async () => {
  const hang: Script = () => {};
  const ep = new StubEndpoint('a:80', [hang, ok()]);
  const owner = new Owner();
  const a = new UpstreamAttempt(owner, cluster([ep]), policy({ attempts: 1, perTryTimeoutMs: 30, retryOn: ['5xx'] }), request(), null, -1, new RetryBudget());
  a.start();
  await owner.settled;
  a.release();
  assert.deepEqual(owner.events, ['headers 200', 'end']);
  assert.match(String(ep.controllers[0]?.aborted?.message), /timeout/);
});

test('a stale keep-alive connection reset before any byte is retried once on the same endpoint, without a policy', async () => {
  const ep = new StubEndpoint('a:80', [staleReset, ok()]);
  const owner = new Owner();
  const a = new UpstreamAttempt(owner, cluster([ep]), null, request(), null, -1, new RetryBudget());
  a.start();
  await owner.settled;
  a.release();
  assert.deepEqual(owner.events, ['headers 200', 'end']);
  assert.equal(ep.dispatches, 2);
  assert.equal(a.retriesDone, 0, 'not a policy retry');
});

test('a body that cannot be replayed is not retried', async () => {
  const bad = new StubEndpoint('bad:80', [refused]);
  const owner = new Owner();
  const body = { replayable: false } as never;
  const a = new UpstreamAttempt(owner, cluster([bad]), policy({}), { ...request(), method: 'POST' }, body, -1, new RetryBudget());
  a.start();
  await owner.settled;
  a.release();
  assert.equal(bad.dispatches, 1);
  assert.equal(owner.error?.flag, FLAG_UF);
});

test('admission overflow answers UO without contacting an endpoint', async () => {
  const ep = new StubEndpoint('a:80', [ok()]);
  const owner = new Owner();
  const admission = { tryAdmit: (_w: AdmissionWaiter) => OVERFLOW };
  const a = new UpstreamAttempt(owner, cluster([ep], { admission }), policy({}), request(), null, -1, new RetryBudget());
  a.start();
  await owner.settled;
  a.release();
  assert.equal(flagNames(owner.error?.flag ?? 0), 'UO');
  assert.equal(ep.dispatches, 0);
});

test('after release nothing reaches the owner, and a late controller is aborted', async () => {
  let late: UpstreamHandler | null = null;
  const ep = new StubEndpoint('a:80', [(h) => { late = h; }]);
  const owner = new Owner();
  const a = new UpstreamAttempt(owner, cluster([ep]), policy({}), request(), null, -1, new RetryBudget());
  a.start();
  a.release();
  const h = late as unknown as UpstreamHandler;
  h.onUpstreamHeaders(200, []);
  h.onUpstreamEnd();
  assert.deepEqual(owner.events, []);
  const c = new StubController();
  h.onUpstreamStart(c);
  assert.notEqual(c.aborted, null, 'a connection that starts after release is aborted');
  assert.deepEqual([ep.begins, ep.ends], [1, 1]);
});

test('reuse() sets every field a new attempt starts with, whatever the last request left there', () => {
  const [o, c, p, r, b] = [new Owner(), cluster([]), policy({}), request(), new RetryBudget()];
  const fresh = new UpstreamAttempt(o, c, p, r, null, 7, b);
  const used = new UpstreamAttempt(new Owner(), cluster([]), null, request(), null, -1, new RetryBudget());
  const junk = used as unknown as Record<string, unknown>;
  const fields = Object.keys(used);
  assert.ok(fields.length > 20, `only ${fields.length} fields seen`);
  for (const k of fields) junk[k] = Symbol(k);
  used.reuse(o, c, p, r, null, 7, b);
  assert.deepEqual(Object.keys(used), Object.keys(fresh), 'the same fields, in the same order');
  for (const k of fields) assert.equal(junk[k], (fresh as unknown as Record<string, unknown>)[k], `field ${k}`);
});

test('reusable() only once nothing can call the attempt: released, one try ended by the codec, no retry, never queued', async () => {
  const done = async (scripts: Script[], retry: RetryPolicy | null, opts: { admission?: unknown } = {}): Promise<UpstreamAttempt> => {
    const owner = new Owner();
    const a = new UpstreamAttempt(owner, cluster([new StubEndpoint('a:80', scripts), new StubEndpoint('b:80', scripts)], opts), retry, request(), null, -1, new RetryBudget());
    a.start();
    await owner.settled;
    return a;
  };
  const plain = await done([ok()], policy({}));
  assert.equal(plain.reusable(), false, 'not released');
  plain.release();
  assert.equal(plain.reusable(), true);
  const retried = await done([refused, ok()], policy({}));
  retried.release();
  assert.equal(retried.reusable(), false, 'retried: a back-off timer was set');
  const failedOnce = await done([refused], null);
  failedOnce.release();
  assert.equal(failedOnce.reusable(), true, 'its one try ended with the codec\'s error');
  const hanging = new StubEndpoint('h:80', [() => undefined]);
  const owner = new Owner();
  const open = new UpstreamAttempt(owner, cluster([hanging]), null, request(), null, -1, new RetryBudget());
  open.start();
  open.release(); // (the client left: the codec may still report)
  assert.equal(open.reusable(), false, 'the codec has not let go of it');
  const waiting: AdmissionWaiter[] = [];
  const queueing = { tryAdmit: (w: AdmissionWaiter) => { waiting.push(w); return QUEUED; }, cancel: () => undefined, release: () => undefined };
  const queuedOwner = new Owner();
  const queued = new UpstreamAttempt(queuedOwner, cluster([new StubEndpoint('q:80', [ok()])], { admission: queueing }), null, request(), null, -1, new RetryBudget());
  queued.start();
  assert.equal(waiting.length, 1);
  queued.release();
  assert.equal(queued.reusable(), false, 'the admission queue knew it');
});

test('retire() pools a reusable attempt (takeAttempt() hands it out, its controller recycled) and nothing else', async () => {
  while (takeAttempt() !== null); // (start from an empty pool)
  const run = async (retry: RetryPolicy | null, ep: StubEndpoint): Promise<UpstreamAttempt> => {
    const owner = new Owner();
    const a = new UpstreamAttempt(owner, cluster([ep]), retry, request(), null, -1, new RetryBudget());
    a.start();
    await owner.settled;
    return a;
  };
  const plainEp = new StubEndpoint('a:80', [ok()]);
  const plain = await run(null, plainEp);
  plain.retire();
  assert.equal(takeAttempt(), null, 'not released: not pooled');
  plain.release();
  plain.retire();
  plain.retire();
  assert.deepEqual(plainEp.controllers.map((c) => c.recycled), [1], 'its controller recycled, once');
  assert.equal(takeAttempt(), plain, 'pooled once');
  assert.equal(takeAttempt(), null);
  const retriedEp = new StubEndpoint('b:80', [refused, ok()]);
  const retried = await run(policy({}), retriedEp);
  retried.release();
  retried.retire();
  assert.equal(takeAttempt(), null, 'retried: not pooled');
  assert.deepEqual(retriedEp.controllers.map((c) => c.recycled), [0, 0], 'nor its controllers recycled');
});
