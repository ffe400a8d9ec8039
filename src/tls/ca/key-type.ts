// Workload and CA key types: RSA 2048 (Istio's default) or ECDSA P-256 (cheaper handshakes: see
// the README's mTLS section for the measurement).
export type KeyType = 'rsa2048' | 'ecdsa-p256';

export const KEY_TYPES: readonly KeyType[] = ['rsa2048', 'ecdsa-p256'];

/** what `ca issue` and a sidecar's CA client generate unless told otherwise */
export const DEFAULT_KEY_TYPE: KeyType = 'rsa2048';

/** Parses a --key-type flag; throws naming the flag and the choices. */
export function parseKeyType(value: string, flag: string): KeyType {
  if ((KEY_TYPES as readonly string[]).includes(value)) return value as KeyType;
  throw new Error(`${flag}: expected ${KEY_TYPES.join(' or ')}, got "${value}"`);
}
