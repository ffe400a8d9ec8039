// @ts-check
// k6 scenario: the seed canary reloaded to 50/50 mid-run (`npm run load -- reload --k6` does the
// `meshlet apply` of load/config/reload-50-50.yaml halfway; by hand, apply it yourself mid-run).
// Thresholds: zero failed requests; v2 share ≈ 30% over the run (10% before, 50% after) shows the reload.
import http from 'k6/http';
import { check } from 'k6';
import { Counter, Rate } from 'k6/metrics';
import { base, constantRate } from './k6-common.js';

const v2Share = new Rate('v2_share');
const failed = new Counter('failed_requests');

/** @type {import('k6/options').Options} */
export const options = {
  scenarios: constantRate(500, '30s'),
  thresholds: {
    http_req_failed: ['rate==0'],
    failed_requests: ['count==0'],
    v2_share: ['rate>0.15', 'rate<0.45'],
  },
};

export default function () {
  const res = http.get(`${base}/products/1`, { headers: { Host: 'product-service' } });
  if (!check(res, { 'status 200': (r) => r.status === 200 })) failed.add(1);
  v2Share.add(res.status === 200 && res.json('version') === 'v2');
}
