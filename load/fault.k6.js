// @ts-check
// k6 scenario: VirtualService fault injection (load/config/fault.yaml: 10% aborted with 503, 10%
// delayed by 100 ms). `npm run load -- fault --k6`. Thresholds on what the client observes: the
// abort share and the delayed share near 10%, and no failure other than the injected 503.
import http from 'k6/http';
import { check } from 'k6';
import { Rate } from 'k6/metrics';
import { base, constantRate } from './k6-common.js';

const aborted = new Rate('aborted_share');
const delayed = new Rate('delayed_share');
const DELAY_MS = 100;

http.setResponseCallback(http.expectedStatuses(200, 503));

/** @type {import('k6/options').Options} */
export const options = {
  scenarios: constantRate(500, '30s'),
  thresholds: {
    http_req_failed: ['rate==0'],
    aborted_share: ['rate>0.07', 'rate<0.13'],
    // an aborted request may have been delayed first (Envoy's order): both shares count it
    delayed_share: ['rate>0.07', 'rate<0.13'],
  },
};

export default function () {
  const res = http.get(`${base}/products/1`, { headers: { Host: 'product-service' } });
  check(res, { 'status 200 or injected 503': (r) => r.status === 200 || r.status === 503 });
  aborted.add(res.status === 503);
  delayed.add(res.timings.duration >= DELAY_MS);
}
