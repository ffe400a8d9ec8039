// The signing service's wire format, shared by server.ts and the CA client identity source.
//   POST /v1/sign   Authorization: Bearer <join token>   (first certificate)
//                   or a client certificate from this CA  (renewal; same identity only)
//   body: JSON {"csr": "<PEM>", "ttl": "24h"?}  — or the bare PEM CSR, with ?ttl=24h
//   200 → SignResponse; 4xx/5xx → {"error": "<reason>"}

export const SIGN_PATH = '/v1/sign';
export const MAX_BODY_BYTES = 64 * 1024;

export interface SignRequest { csr: string; ttl?: string }

export interface SignResponse {
  spiffeId: string;
  certPem: string;
  /** trust bundle (the mesh root) */
  caPem: string;
  notBefore: string;
  notAfter: string;
}

export interface ErrorResponse { error: string }
