// How the per-worker connection cap of an endpoint's pool relates to a DestinationRule's
// tcp.maxConnections: the larger governs, and clusters with a limit of their own get their own pools.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DEFAULT_POOL } from '../../../src/config/traffic-policy.js';
import type { ClusterSpec, EndpointSpec, PoolSpec } from '../../../src/config/snapshot.js';
import { connectionCap, poolKey } from '../../../src/upstream/pool-registry.js';

const ep = { address: '10.0.0.1', port: 8080 } as EndpointSpec;
const cluster = (pool: Partial<PoolSpec>): ClusterSpec => ({ pool: { ...DEFAULT_POOL, ...pool } }) as ClusterSpec;

test('no DestinationRule limit: the safety cap applies', () => {
  assert.equal(connectionCap(1024, DEFAULT_POOL), 1024);
});

test('a DestinationRule maxConnections above the safety cap replaces it; one below leaves it (the Admission enforces it sidecar-wide)', () => {
  assert.equal(connectionCap(1024, { ...DEFAULT_POOL, maxConnections: 5000 }), 5000);
  assert.equal(connectionCap(1024, { ...DEFAULT_POOL, maxConnections: 10 }), 1024);
});

test('pools are shared by clusters without limits, and not with a cluster that has its own maxConnections', () => {
  assert.equal(poolKey(cluster({}), ep, null), '10.0.0.1:8080');
  assert.notEqual(poolKey(cluster({ maxConnections: 5000 }), ep, null), poolKey(cluster({}), ep, null));
});
