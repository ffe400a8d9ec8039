// The identity expiry watch with a lifetime longer than a Node.js timer holds (2^31-1 ms, about
// 24.8 days): it logs the lapse when the identity has really expired, not when the timer's
// maximum runs out (a 30-day identity was reported expired after 24.8 days).
import assert from 'node:assert/strict';
import { mock, test } from 'node:test';
import type { Logger } from '../../../src/log.js';
import { BaseIdentitySource, type WorkloadIdentity } from '../../../src/tls/identity/source.js';

const DAY = 86_400_000;

class Fixed extends BaseIdentitySource {
  constructor(log: Logger, private readonly id: WorkloadIdentity) { super(log, 'fixed'); }
  async start(): Promise<WorkloadIdentity> { this.setIdentity(this.id); return this.id; }
  async close(): Promise<void> { this.stopExpiryWatch(); }
}

test('a 30-day identity is reported expired after 30 days, not after 24.8', async () => {
  mock.timers.enable({ apis: ['setTimeout', 'Date'], now: 1_000_000 });
  try {
    const errors: string[] = [];
    const log = { error: (_: unknown, msg: string) => { errors.push(msg); } } as unknown as Logger;
    const now = Date.now();
    const source = new Fixed(log, { spiffeId: 'spiffe://t/ns/a/sa/b', certPem: '', keyPem: '', caPem: '', notBefore: new Date(now), notAfter: new Date(now + 30 * DAY) });
    await source.start();
    mock.timers.tick(2 ** 31 - 1);
    assert.deepEqual(errors, [], 'not expired at 24.8 days');
    mock.timers.tick(30 * DAY - (2 ** 31 - 1) - 1);
    assert.deepEqual(errors, [], 'not expired 1 ms before notAfter');
    mock.timers.tick(1);
    assert.deepEqual(errors, ['workload identity expired and was not replaced: peers will refuse it']);
    await source.close();
  } finally {
    mock.timers.reset();
  }
});
