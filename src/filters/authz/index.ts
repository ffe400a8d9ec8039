// The authz filter's front door: build an evaluator per generation from Snapshot.authz, then
// evaluate each inbound request's attributes (see evaluator.ts for Istio's order).
export { AuthzEvaluator, createAuthzEvaluator, type AuthzResult } from './evaluator.js';
export { AuthzRequest, flatHeaderValue, type AuthzAttributes } from './attributes.js';
