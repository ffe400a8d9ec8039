// The control-thread aggregator: label resolution per generation, counts, meshlet overhead,
// interval vs cumulative views, reset, ring lifecycle and drop totals.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { StatsAggregator, type StatsView } from '../../../src/stats/aggregator.js';
import { bucketCountsFromHistogram, DURATION_BUCKETS_US } from '../../../src/stats/buckets.js';
import { FLAG_NR, FLAG_UF, FLAG_URX, FLAG_DI, flagNames, flagsOf } from '../../../src/stats/flags.js';
import { createRing, RingWriter } from '../../../src/stats/ring.js';
import { createStringTable, StringTableWriter } from '../../../src/stats/strings.js';
import { cluster, listener, put, snapshot, versionPeer } from './helpers.js';

const REVIEWS = 'reviews.shop.svc.cluster.local';
const RATINGS = 'ratings.shop.svc.cluster.local';
const LISTENERS = [listener('outbound_0.0.0.0_9080', 'outbound', 9080), listener('inbound_0.0.0.0_15006', 'inbound', 15006, 2)];
const GEN1 = snapshot(1, [cluster(0, REVIEWS, 'v1'), cluster(1, REVIEWS, 'v2'), cluster(2, 'productpage.shop.svc.cluster.local', null)], LISTENERS);
// generation 2 renumbers the clusters: ids only mean something together with their generation
const GEN2 = snapshot(2, [cluster(0, RATINGS, null), cluster(1, REVIEWS, 'v3'), cluster(2, 'productpage.shop.svc.cluster.local', null)], LISTENERS);

interface Row { requests: number; durationCount: number; overheadCount: number; overheadSumUs: number; overheadMax: number; durationSumUs: number; bytesIn: number; bytesOut: number }

function rows(agg: StatsAggregator, view: StatsView): Map<string, Row> {
  const out = new Map<string, Row>();
  agg.forEachSeries(view, (s) => {
    const k = s.key;
    out.set(`${k.direction} ${k.service} ${k.version} ${k.responseCode} ${k.responseFlags}`, {
      requests: s.requests,
      durationCount: s.histogram('duration').totalCount,
      overheadCount: s.overheadCount,
      overheadSumUs: s.overheadSumUs,
      overheadMax: s.histogram('overhead').totalCount === 0 ? -1 : s.histogram('overhead').maxValue,
      durationSumUs: s.durationSumUs,
      bytesIn: s.requestBytesSum,
      bytesOut: s.responseBytesSum,
    });
  });
  return out;
}

const counts = (m: Map<string, Row>): Record<string, number> => Object.fromEntries([...m].map(([k, r]) => [k, r.requests]));

/** A worker's ring with its string table: `peer(version)` is the id of a peer workload of that version. */
interface Worker { w: RingWriter; peer(version: string): number; host(h: string): number }

function worker(agg: StatsAggregator, id: string, capacity: number): Worker {
  const ring = createRing(capacity);
  const table = createStringTable(64, 4096);
  agg.addRing(id, ring, table);
  const strings = new StringTableWriter(table);
  return { w: new RingWriter(ring), peer: (v) => versionPeer(strings, v), host: (h) => strings.intern(`H${h}`) };
}

function twoWorkers(agg: StatsAggregator): { a: Worker; b: Worker } {
  return { a: worker(agg, 'w0', 256), b: worker(agg, 'w1', 256) };
}

// outbound: the peer is the endpoint's workload (its version label); inbound: the caller, unknown here
function fill(a: Worker, b: Worker): void {
  for (let i = 0; i < 3; i++) put(a.w, { gen: 1, cluster: 0, totalUs: 1500, upstreamUs: 1000, bytesIn: 10, bytesOut: 2000, peer: a.peer('v1') });
  put(a.w, { gen: 1, cluster: 1, status: 503, flag: FLAG_UF, totalUs: 800, upstreamUs: 700, peer: a.peer('v2') });
  put(a.w, { gen: 1, cluster: -1, status: 404, flag: FLAG_NR, totalUs: 100 });
  for (let i = 0; i < 2; i++) put(a.w, { gen: 1, inbound: true, listener: 1, cluster: 2, totalUs: 3000, upstreamUs: 2500, host: a.host('productpage:9080') });
  for (let i = 0; i < 2; i++) put(b.w, { gen: 2, cluster: 0, totalUs: 2000, upstreamUs: 1200 });
  put(b.w, { gen: 2, cluster: 1, totalUs: 400, upstreamUs: 300, peer: b.peer('v3') });
}

const EXPECTED = {
  [`outbound ${REVIEWS} v1 200 -`]: 3,
  [`outbound ${REVIEWS} v2 503 UF`]: 1,
  'outbound unknown unknown 404 NR': 1,
  // no service selects this (unknown) workload: Istio names the Host; its own version label is absent
  'inbound productpage:9080  200 -': 2,
  [`outbound ${RATINGS} unknown 200 -`]: 2,
  [`outbound ${REVIEWS} v3 200 -`]: 1,
};

test('flags: a bit set, names in Envoy\'s order, both ways', () => {
  assert.equal(flagsOf('-'), 0);
  assert.equal(flagsOf('NR'), FLAG_NR);
  assert.equal(flagsOf('UF,URX'), FLAG_UF | FLAG_URX);
  assert.equal(flagsOf('XX'), -1);
  assert.equal(flagNames(0), '-');
  assert.equal(flagNames(FLAG_UF), 'UF');
  assert.equal(flagNames(FLAG_URX | FLAG_UF | FLAG_DI), 'UF,URX,DI', 'Envoy renders UF before URX, then DI');
  assert.equal(flagNames(1 << 19), 'FLAGS524288', 'a bit without a name stays visible');
});

test('records from two rings for two generations resolve to the right labels; counts equal records', () => {
  const agg = new StatsAggregator();
  agg.registerSnapshot(GEN1);
  agg.registerSnapshot(GEN2);
  const { a, b } = twoWorkers(agg);
  fill(a, b);
  assert.equal(agg.drainAll(), 10);
  const cum = rows(agg, 'cumulative');
  assert.deepEqual(counts(cum), EXPECTED);
  for (const r of cum.values()) assert.equal(r.durationCount, r.requests);
  assert.equal(agg.recordsDrained, 10);
  assert.equal(agg.unresolvedRecords, 0);
  assert.equal(agg.droppedTotal, 0);
  agg.destroy();
});

test('setWorkload after snapshots are registered keeps them resolvable and labels new series with the workload', () => {
  const agg = new StatsAggregator();
  agg.registerSnapshot(GEN1);
  agg.registerSnapshot(GEN2);
  // re-registering each generation while iterating the generations map never ended before the split
  agg.setWorkload({ name: 'productpage-v1', namespace: 'shop', instance: 'pp-1', labels: { app: 'productpage', version: 'v1' }, serviceAccount: 'pp', cluster: 'Kubernetes' },
    'spiffe://cluster.local/ns/shop/sa/pp');
  assert.deepEqual(agg.generationsKept, [1, 2]);
  const { a, b } = twoWorkers(agg);
  fill(a, b);
  agg.drainAll();
  // inbound series now carry this workload's own version label
  const expected: Record<string, number> = { ...EXPECTED, 'inbound productpage:9080 v1 200 -': 2 };
  delete expected['inbound productpage:9080  200 -'];
  assert.deepEqual(counts(rows(agg, 'cumulative')), expected);
  assert.equal(agg.unresolvedRecords, 0);
  const workloads = new Set<string>();
  agg.forEachSeries('cumulative', (s) => { if (s.key.direction === 'outbound') workloads.add(s.key.labels?.source_workload ?? ''); });
  assert.deepEqual([...workloads], ['productpage-v1']);
  agg.destroy();
});

test('meshlet overhead = total − upstream, only for records with an upstream time; sums are exact', () => {
  const agg = new StatsAggregator();
  agg.registerSnapshot(GEN1);
  agg.registerSnapshot(GEN2);
  const { a, b } = twoWorkers(agg);
  fill(a, b);
  agg.drainAll();
  const cum = rows(agg, 'cumulative');
  assert.deepEqual(cum.get(`outbound ${REVIEWS} v1 200 -`), {
    requests: 3, durationCount: 3, overheadCount: 3, overheadSumUs: 1500, overheadMax: 500, durationSumUs: 4500, bytesIn: 30, bytesOut: 6000,
  });
  assert.equal(cum.get(`outbound ${RATINGS} unknown 200 -`)?.overheadMax, 800);
  const nr = cum.get('outbound unknown unknown 404 NR');
  assert.equal(nr?.overheadCount, 0);
  assert.equal(nr?.overheadMax, -1);
  agg.destroy();
});

test('interval vs cumulative across rotateInterval()', () => {
  const agg = new StatsAggregator();
  agg.registerSnapshot(GEN1);
  const { w, peer } = worker(agg, 'w0', 64);
  const key = `outbound ${REVIEWS} v1 200 -`;
  for (let i = 0; i < 3; i++) put(w, { gen: 1, cluster: 0, totalUs: 1000 + i, upstreamUs: 900, peer: peer('v1') });
  agg.drainAll();
  assert.equal(rows(agg, 'interval').get(key)?.requests, 3);
  agg.rotateInterval();
  assert.equal(rows(agg, 'interval').size, 0, 'nothing since the rotate');
  assert.equal(rows(agg, 'cumulative').get(key)?.requests, 3);
  for (let i = 0; i < 2; i++) put(w, { gen: 1, cluster: 0, totalUs: 50_000, upstreamUs: 1000, peer: peer('v1') });
  agg.drainAll();
  const interval = rows(agg, 'interval').get(key);
  const cumulative = rows(agg, 'cumulative').get(key);
  assert.equal(interval?.requests, 2);
  assert.equal(interval?.durationCount, 2);
  assert.ok(Math.abs((interval?.overheadMax ?? 0) - 49_000) <= 49, 'overhead 50,000 − 1,000 µs (3 significant digits)');
  assert.equal(cumulative?.requests, 5);
  assert.equal(cumulative?.durationCount, 5, 'merged histogram: closed interval + current');
  assert.equal(cumulative?.durationSumUs, 1000 + 1001 + 1002 + 100_000);
  agg.rotateInterval();
  agg.rotateInterval();
  assert.equal(rows(agg, 'interval').size, 0);
  assert.equal(rows(agg, 'cumulative').get(key)?.durationCount, 5);
  agg.destroy();
});

test('reset() clears series and histograms; later records count from zero; recordsDrained stays', () => {
  const agg = new StatsAggregator();
  agg.registerSnapshot(GEN1);
  agg.registerSnapshot(GEN2);
  const { a, b } = twoWorkers(agg);
  fill(a, b);
  agg.drainAll();
  agg.rotateInterval();
  fill(a, b);
  agg.drainAll();
  assert.equal(rows(agg, 'cumulative').get(`outbound ${REVIEWS} v1 200 -`)?.requests, 6);
  agg.reset();
  assert.equal(rows(agg, 'cumulative').size, 0);
  assert.equal(rows(agg, 'interval').size, 0);
  assert.equal(agg.seriesCount, 0);
  put(a.w, { gen: 1, cluster: 0, totalUs: 10, peer: a.peer('v1') });
  agg.drainAll();
  assert.deepEqual(counts(rows(agg, 'cumulative')), { [`outbound ${REVIEWS} v1 200 -`]: 1 });
  assert.equal(rows(agg, 'cumulative').get(`outbound ${REVIEWS} v1 200 -`)?.durationCount, 1);
  assert.equal(agg.recordsDrained, 21);
  agg.destroy();
});

test('generations: unknown or evicted generations count under "unknown"; only the last few are kept', () => {
  const agg = new StatsAggregator({ keepGenerations: 2 });
  const ring = createRing(64);
  agg.addRing('w0', ring);
  const w = new RingWriter(ring);
  agg.registerSnapshot(GEN1);
  agg.registerSnapshot(GEN2);
  agg.registerSnapshot({ ...GEN2, generation: 3 });
  assert.deepEqual(agg.generationsKept, [2, 3]);
  put(w, { gen: 1, cluster: 0, totalUs: 10 });
  put(w, { gen: 3, cluster: 0, totalUs: 10 });
  put(w, { gen: 99, inbound: true, listener: 1, totalUs: 10 });
  agg.drainAll();
  assert.deepEqual(counts(rows(agg, 'cumulative')), {
    'outbound unknown unknown 200 -': 1,
    [`outbound ${RATINGS} unknown 200 -`]: 1,
    'inbound unknown  200 -': 1,
  });
  assert.equal(agg.unresolvedRecords, 2);
  agg.destroy();
});

test('generations: records already in the rings are resolved before registering a new generation can forget theirs', () => {
  const agg = new StatsAggregator({ keepGenerations: 2 });
  const { w, peer } = worker(agg, 'w0', 64);
  agg.registerSnapshot(GEN1);
  put(w, { gen: 1, cluster: 0, totalUs: 10, peer: peer('v1') });
  // reloads in quick succession, before any periodic drain
  agg.registerSnapshot(GEN2);
  agg.registerSnapshot({ ...GEN2, generation: 3 });
  agg.registerSnapshot({ ...GEN2, generation: 4 });
  agg.drainAll();
  assert.deepEqual(counts(rows(agg, 'cumulative')), { [`outbound ${REVIEWS} v1 200 -`]: 1 });
  assert.equal(agg.unresolvedRecords, 0);
  agg.destroy();
});

test('rings: a removed ring is drained once more, then forgotten; re-adding an id retires the old ring; drops add up', () => {
  const agg = new StatsAggregator();
  agg.registerSnapshot(GEN1);
  const old = createRing(4);
  agg.addRing('w0', old);
  const wOld = new RingWriter(old);
  for (let i = 0; i < 6; i++) wOld.write(1, 0, 0, -1, 0, 0, 200, 0, 10, -1, 0, 0); // 2 dropped
  // the worker respawns: a new ring under the same id; the old one's records still count
  const fresh = createRing(4);
  agg.addRing('w0', fresh);
  const wNew = new RingWriter(fresh);
  for (let i = 0; i < 5; i++) wNew.write(1, 0, 0, -1, 0, 0, 200, 0, 10, -1, 0, 0); // 1 dropped
  assert.equal(agg.ringCount, 2);
  assert.equal(agg.drainAll(), 8);
  assert.equal(agg.ringCount, 1);
  assert.equal(agg.droppedTotal, 3);
  agg.removeRing('w0');
  put(wNew, { gen: 1, cluster: 0, totalUs: 10 });
  assert.equal(agg.drainAll(), 1);
  assert.equal(agg.ringCount, 0);
  assert.equal(agg.droppedTotal, 3);
  assert.equal(rows(agg, 'cumulative').get(`outbound ${REVIEWS} unknown 200 -`)?.requests, 9);
  agg.destroy();
});

test('after a rotation the cumulative view adds the closed intervals and the current one', () => {
  const agg = new StatsAggregator();
  agg.registerSnapshot(GEN1);
  agg.registerSnapshot(GEN2);
  const { a, b } = twoWorkers(agg);
  fill(a, b);
  agg.drainAll();
  agg.rotateInterval();
  fill(a, b);
  agg.drainAll();
  const cum = rows(agg, 'cumulative');
  assert.deepEqual(counts(cum), Object.fromEntries(Object.entries(EXPECTED).map(([k, v]) => [k, v * 2])));
  assert.equal(cum.get(`outbound ${REVIEWS} v1 200 -`)?.durationCount, 6);
  assert.equal(cum.get(`outbound ${REVIEWS} v1 200 -`)?.overheadMax, 500);
  agg.destroy();
});

test('exact Prometheus bucket counters agree with counts derived from the HDR histogram', () => {
  {
    const agg = new StatsAggregator();
    agg.registerSnapshot(GEN1);
    const ring = createRing(8192);
    agg.addRing('w0', ring);
    const w = new RingWriter(ring);
    const values: number[] = [];
    let x = 12345;
    for (let i = 0; i < 5000; i++) {
      x = (x * 1103515245 + 12345) % 2147483648;
      const v = Math.round(Math.exp((x / 2147483648) * Math.log(4e9))); // log-uniform 1 µs .. 4e9 µs
      values.push(Math.min(v, 3.6e9));
      put(w, { gen: 1, cluster: 0, totalUs: v });
    }
    for (const b of DURATION_BUCKETS_US) values.push(b); // values exactly on boundaries: le is inclusive
    for (const b of DURATION_BUCKETS_US) put(w, { gen: 1, cluster: 0, totalUs: b });
    agg.drainAll();
    agg.forEachSeries('cumulative', (s) => {
      const fromHdr = bucketCountsFromHistogram(s.histogram('duration'), DURATION_BUCKETS_US);
      let exactCum = 0;
      let hdrCum = 0;
      for (let i = 0; i <= DURATION_BUCKETS_US.length; i++) {
        exactCum += s.durationBuckets[i] as number;
        hdrCum += fromHdr[i] as number;
        const le = DURATION_BUCKETS_US[i] ?? Infinity;
        const expected = values.filter((v) => v <= le).length;
        assert.equal(exactCum, expected, `exact le=${le}`);
        // HDR slots are up to 1/1024 wide: values just above a boundary may count below it
        const slack = values.filter((v) => v > le && v <= le * 1.001).length;
        assert.ok(hdrCum >= expected && hdrCum <= expected + slack, `hdr le=${le}: ${hdrCum} vs ${expected} (+${slack})`);
      }
    });
    agg.destroy();
  }
});
