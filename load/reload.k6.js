// @ts-check
// k6 scenario: the seed canary while its config is reloaded. `npm run load -- reload --k6` applies
// load/config/reload-50-50.yaml (90/10 → 50/50) with `meshlet apply` halfway; by hand, run that apply
// mid-run yourself. Thresholds: zero failed requests, and a v2 share that shows the reload took
// effect (≈ 30% over the run: 10% before, 50% after).
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
