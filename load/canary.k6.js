// k6 scenario: the seed's 90/10 canary through meshlet's outbound listener, with a threshold on
// the v2 share. Run against `npm start` (meshlet demo on 127.0.0.1:15001):
//   k6 run load/canary.k6.js            (MESHLET_URL=http://127.0.0.1:15001 by default)
// The demo apps answer JSON with their version; the check counts v2 answers.
import http from 'k6/http';
import { check } from 'k6';
import { Rate } from 'k6/metrics';

const v2Share = new Rate('v2_share');
const base = __ENV.MESHLET_URL || 'http://127.0.0.1:15001';

export const options = {
  scenarios: {
    canary: { executor: 'constant-arrival-rate', rate: 500, timeUnit: '1s', duration: '30s', preAllocatedVUs: 50 },
  },
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
