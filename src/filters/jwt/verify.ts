// One JWT checked against one jwtRule with jose (signatures, algorithms, exp/nbf with Envoy's 60 s
// clock skew, issuer, audiences): never hand-written crypto. Failures are named as Envoy's
// jwt_authn names them in its 401 body.
import type { JWTPayload, JWTVerifyGetKey } from 'jose';
import { jose } from './jose.js';
import type { JwtRuleSpec } from '../../config/security-spec.js';

/** Asymmetric algorithms only: a JWKS holds public keys (HS* and "none" are refused). */
export const JWT_ALGORITHMS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA', 'Ed25519'];
/** Envoy's default clock skew for exp and nbf */
export const CLOCK_SKEW_S = 60;

export type JwtFailure =
  | 'malformed' | 'bad_json' | 'bad_alg' | 'unknown_issuer' | 'expired' | 'not_yet_valid' | 'audience' | 'no_key' | 'signature'
  | 'jwks_unavailable';

/** Envoy's words (jwt_verify_lib status strings) for the 401 body. */
export const FAILURE_TEXT: Record<JwtFailure, string> = {
  malformed: 'Jwt is not in the form of Header.Payload.Signature with two dots and 3 sections',
  bad_json: 'Jwt header or payload is an invalid JSON',
  bad_alg: 'Jwt header [alg] is not supported',
  unknown_issuer: 'Jwt issuer is not configured',
  expired: 'Jwt is expired',
  not_yet_valid: 'Jwt not yet valid',
  audience: 'Audiences in Jwt are not allowed',
  no_key: 'Jwks doesn\'t have key to match kid or alg from Jwt',
  signature: 'Jwt verification fails',
  jwks_unavailable: 'Jwks remote fetch is failed',
};

export interface Unverified {
  iss: string;
  alg: string;
}

const ALGS = new Set(JWT_ALGORITHMS);
const BASE64URL = /^[A-Za-z0-9_-]+$/;

/** The token's shape, algorithm and issuer, before any key is touched. */
export function inspect(token: string): Unverified | JwtFailure {
  const a = token.indexOf('.');
  const b = a < 0 ? -1 : token.indexOf('.', a + 1);
  if (a <= 0 || b < 0 || b === a + 1 || token.indexOf('.', b + 1) >= 0) return 'malformed';
  // an empty signature is well-formed (an unsecured JWT): its alg is what gets it refused
  const sig = token.slice(b + 1);
  if (!BASE64URL.test(token.slice(0, a)) || !BASE64URL.test(token.slice(a + 1, b)) || (sig !== '' && !BASE64URL.test(sig))) return 'malformed';
  let alg: unknown;
  let iss: unknown;
  try {
    alg = jose().decodeProtectedHeader(token).alg;
    iss = jose().decodeJwt(token).iss;
  } catch {
    return 'bad_json';
  }
  if (typeof alg !== 'string' || !ALGS.has(alg)) return 'bad_alg';
  return { iss: typeof iss === 'string' ? iss : '', alg };
}

/** Verifies `token` with `keys` under `rule`; the payload, or why not. */
export async function verifyToken(token: string, keys: JWTVerifyGetKey, rule: JwtRuleSpec): Promise<JWTPayload | JwtFailure> {
  try {
    const { payload } = await jose().jwtVerify(token, keys, {
      issuer: rule.issuer,
      ...(rule.audiences.length > 0 ? { audience: rule.audiences } : {}),
      algorithms: JWT_ALGORITHMS,
      clockTolerance: CLOCK_SKEW_S,
    });
    return payload;
  } catch (err) {
    return failureOf(err);
  }
}

function failureOf(err: unknown): JwtFailure {
  const { errors } = jose();
  if (err instanceof errors.JWTExpired) return 'expired';
  if (err instanceof errors.JWTClaimValidationFailed) {
    if (err.claim === 'nbf' || err.claim === 'iat') return 'not_yet_valid';
    if (err.claim === 'aud') return 'audience';
    if (err.claim === 'iss') return 'unknown_issuer';
    return 'bad_json';
  }
  if (err instanceof errors.JWKSNoMatchingKey) return 'no_key';
  if (err instanceof errors.JOSEAlgNotAllowed || err instanceof errors.JOSENotSupported) return 'bad_alg';
  if (err instanceof errors.JWSSignatureVerificationFailed) return 'signature';
  if (err instanceof errors.JWTInvalid || err instanceof errors.JWSInvalid) return 'bad_json';
  return 'signature';
}
