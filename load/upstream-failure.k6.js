// @ts-check
// k6 scenario: one of inventory-service's 4 endpoints answers every request with 503
// (load/config/upstream-failure.yaml); retries (attempts 3, retryOn 5xx) must keep the client's
// success rate ≥ 99.9%. `npm run load -- upstream-failure --k6`.
import http from 'k6/http';
import { check } from 'k6';
import { base, constantRate } from './k6-common.js';

/** @type {import('k6/options').Options} */
export const options = {
  scenarios: constantRate(500, '30s'),
  thresholds: {
    http_req_failed: ['rate<0.001'],
    checks: ['rate>0.999'],
  },
};

export default function () {
  const res = http.get(`${base}/items/1`, { headers: { Host: 'inventory-service' } });
  check(res, { 'status 200': (r) => r.status === 200 });
}
