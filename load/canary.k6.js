// @ts-check
// k6 scenario: the seed's 90/10 canary through meshlet's outbound listener, with a threshold on
// the v2 share. Against `npm start` (meshlet demo on 127.0.0.1:15001): `k6 run load/canary.k6.js`;
// with its own upstreams and meshlet: `npm run load -- canary --k6`. The apps answer JSON with their version.
import http from 'k6/http';
import { check } from 'k6';
import { Rate } from 'k6/metrics';
import { base, constantRate } from './k6-common.js';

const v2Share = new Rate('v2_share');

/** @type {import('k6/options').Options} */
export const options = {
  scenarios: constantRate(500, '30s'),
  thresholds: {
    http_req_failed: ['rate<0.001'],
    v2_share: ['rate>0.07', 'rate<0.13'],
    http_req_duration: ['p(99)<50'],
  },
};

export default function () {
  const res = http.get(`${base}/products/1`, { headers: { Host: 'product-service' } });
  check(res, { 'status 200': (r) => r.status === 200 });
  v2Share.add(res.status === 200 && res.json('version') === 'v2');
}
