// `meshlet run` flags → an IdentitySource: `--identity-dir DIR`, or `--ca-url URL --ca-token T
// --identity ID [--ca-root FILE] [--identity-ttl TTL] [--identity-key-type rsa2048|ecdsa-p256]`. Spread IDENTITY_ARG_OPTIONS into the command's parseArgs options.
import type { Logger } from '../../log.js';
import { parseKeyType } from '../ca/key-type.js';
import { CaClientIdentitySource } from './ca-client-source.js';
import { FileIdentitySource } from './file-source.js';
import type { IdentitySource } from './source.js';

export const IDENTITY_ARG_OPTIONS = {
  'identity-dir': { type: 'string' },
  'ca-url': { type: 'string' },
  'ca-token': { type: 'string' },
  identity: { type: 'string' },
  'ca-root': { type: 'string' },
  'identity-ttl': { type: 'string' },
  'identity-key-type': { type: 'string' },
} as const;

export interface IdentityArgs {
  'identity-dir'?: string | undefined;
  'ca-url'?: string | undefined;
  'ca-token'?: string | undefined;
  identity?: string | undefined;
  'ca-root'?: string | undefined;
  /** certificate lifetime asked of the CA (it caps it at its --max-ttl) */
  'identity-ttl'?: string | undefined;
  /** the key the sidecar generates for its CSRs (default rsa2048) */
  'identity-key-type'?: string | undefined;
}

const CA_FLAGS = ['ca-url', 'ca-token', 'identity', 'ca-root', 'identity-ttl', 'identity-key-type'] as const;

/** null when no identity flag is given (plain-text mesh); throws on an incomplete or mixed set. */
export function identitySourceFromArgs(args: IdentityArgs, log?: Logger): IdentitySource | null {
  const caGiven = CA_FLAGS.filter((f) => args[f] !== undefined);
  if (args['identity-dir'] !== undefined) {
    if (caGiven.length > 0) throw new Error(`--identity-dir cannot be combined with --${caGiven.join(', --')}: give one identity source`);
    return new FileIdentitySource(args['identity-dir'], log === undefined ? {} : { log });
  }
  if (caGiven.length === 0) return null;
  const missing = (['ca-url', 'ca-token', 'identity'] as const).filter((f) => args[f] === undefined);
  if (missing.length > 0) throw new Error(`incomplete CA identity flags: missing --${missing.join(' and --')} (a CA identity takes --ca-url URL --ca-token T --identity spiffe://… [--ca-root FILE])`);
  return new CaClientIdentitySource({
    caUrl: args['ca-url'] as string,
    token: args['ca-token'] as string,
    identity: args.identity as string,
    ...(args['ca-root'] === undefined ? {} : { caFile: args['ca-root'] }),
    ...(args['identity-ttl'] === undefined ? {} : { ttl: args['identity-ttl'] }),
    ...(args['identity-key-type'] === undefined ? {} : { keyType: parseKeyType(args['identity-key-type'], '--identity-key-type') }),
    ...(log === undefined ? {} : { log }),
  });
}
