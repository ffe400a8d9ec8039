// AuthorizationPolicy as a filter of the inbound chain: Istio's order (any matching DENY denies;
// else, with ALLOW policies, one must match), 403 `RBAC: access denied`. An AUDIT policy that
// matches never decides: the request is counted (meshlet_authz_audit_total{policy}) and written to
// the access log with the policy's name.
import { rbacDenied } from '../../http/errors.js';
import { CONTINUE, STOP, type FilterContext, type FilterStats, type FilterStatus, type HttpFilter } from '../chain.js';
import { AuthzRequest } from './attributes.js';
import { AUDIT_FILTER } from './audit.js';
import type { AuthzEvaluator, AuthzResult } from './evaluator.js';

// one attribute object and result per worker: the check is synchronous
const ATTRS = new AuthzRequest();
const RESULT: AuthzResult = { allowed: true, policy: null, audit: null };
const NO_HEADERS: string[] = [];

export class AuthzFilter implements HttpFilter {
  readonly name = 'authz';
  private readonly evaluator: AuthzEvaluator;
  private readonly allowed: () => void;
  private readonly denied: () => void;
  private readonly stats: FilterStats;
  private readonly audited = new Map<string, () => void>();

  constructor(evaluator: AuthzEvaluator, stats: FilterStats) {
    this.evaluator = evaluator;
    this.stats = stats;
    this.allowed = stats.counter('authz', 'allowed');
    this.denied = stats.counter('authz', 'denied');
  }

  private audit(policy: string): void {
    let count = this.audited.get(policy);
    if (count === undefined) this.audited.set(policy, (count = this.stats.counter(AUDIT_FILTER, policy)));
    count();
  }

  onRequest(ctx: FilterContext): FilterStatus {
    const attrs = ATTRS;
    attrs.method = ctx.method;
    attrs.path = ctx.path;
    attrs.host = ctx.authority;
    attrs.port = ctx.listenerPort;
    attrs.principal = ctx.peerPrincipal;
    attrs.sourceIp = ctx.sourceIp;
    attrs.headers = ctx.headers;
    attrs.auth = ctx.auth;
    this.evaluator.evaluate(attrs, RESULT);
    attrs.headers = NO_HEADERS;
    attrs.auth = null;
    if (RESULT.audit !== null) {
      ctx.auditPolicy = RESULT.audit;
      this.audit(RESULT.audit);
    }
    if (RESULT.allowed) {
      this.allowed();
      return CONTINUE;
    }
    this.denied();
    ctx.fail(rbacDenied(RESULT.policy ?? 'no matching ALLOW policy'));
    return STOP;
  }
}
