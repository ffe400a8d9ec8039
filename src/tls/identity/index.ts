// Workload identities for the sidecar's mTLS: sources (files, mesh CA client) and SVID helpers.
export type { IdentitySource, WorkloadIdentity } from './source.js';
export { FileIdentitySource, readIdentityDir, IDENTITY_FILES, type FileIdentityOptions } from './file-source.js';
export { CaClientIdentitySource, type CaClientOptions } from './ca-client-source.js';
export { identitySourceFromArgs, IDENTITY_ARG_OPTIONS, type IdentityArgs } from './from-args.js';
export { parseSpiffeId, parseSpiffeIdIn, spiffeIdOf, SpiffeIdError, type SpiffeId } from './spiffe.js';
export { verifyChainAndIdentity, IdentityError, parsePemCerts, type VerifiedIdentity, type VerifyOptions } from './verify.js';
