// @ts-check
// Shared by the k6 scenarios: where meshlet listens and the load shape, from k6's -e variables
// (`npm run load -- <scenario> --k6` passes them; the defaults fit `npm start`, the demo).
export const base = __ENV.MESHLET_URL || 'http://127.0.0.1:15001';

/**
 * One constant-arrival-rate scenario: RATE req/s for DURATION with up to VUS virtual users.
 * @param {number} rate default req/s
 * @param {string} duration default duration
 * @returns {import('k6/options').Options['scenarios']}
 */
export function constantRate(rate, duration) {
  const vus = Number(__ENV.VUS || 50);
  return {
    load: {
      executor: 'constant-arrival-rate', rate: Number(__ENV.RATE || rate), timeUnit: '1s',
      duration: __ENV.DURATION || duration, preAllocatedVUs: vus, maxVUs: vus * 4,
    },
  };
}
