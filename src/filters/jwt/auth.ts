// What a verified JWT gives the request (Istio's request.auth.* attributes): the request principal
// `<iss>/<sub>`, the audiences, the presenter (azp) and the claims, for AuthorizationPolicy.

export interface JwtAuth {
  /** `<iss>/<sub>` */
  readonly principal: string;
  readonly audiences: readonly string[];
  /** the `azp` claim, '' when absent */
  readonly presenter: string;
  readonly claims: Readonly<Record<string, unknown>>;
}

/** The value at a claim path (`['realm_access', 'roles']`), or undefined. */
export function claimAt(claims: Readonly<Record<string, unknown>>, path: readonly string[]): unknown {
  let v: unknown = claims;
  for (const key of path) {
    if (typeof v !== 'object' || v === null || Array.isArray(v) || !Object.hasOwn(v, key)) return undefined;
    v = (v as Record<string, unknown>)[key];
  }
  return v;
}
