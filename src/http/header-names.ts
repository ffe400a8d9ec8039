// Header names common in upstream responses, in the spellings servers send. The h1 parser hands
// out these constant strings instead of slicing a new one per response, and lowering them is a
// table lookup instead of an allocation.

const NAMES = [
  'Server', 'Date', 'Content-Type', 'Content-Length', 'Connection', 'Keep-Alive', 'Transfer-Encoding',
  'Cache-Control', 'ETag', 'Etag', 'Last-Modified', 'Vary', 'Set-Cookie', 'Location', 'Expires', 'Accept-Ranges',
  'Content-Encoding', 'Content-Language', 'Pragma', 'X-Powered-By', 'X-Content-Type-Options', 'X-Frame-Options',
  'Strict-Transport-Security', 'Access-Control-Allow-Origin', 'Age', 'Via', 'Link', 'X-Request-Id',
];

/** every spelling above plus its lowercase form → the lowercase form */
const LOWER = new Map<string, string>();
/** by length: the spellings' bytes and strings, for matching bytes without making a string */
const BY_LENGTH: { bytes: Uint8Array; name: string }[][] = [];

for (const name of NAMES) {
  for (const spelling of [name, name.toLowerCase()]) {
    if (LOWER.has(spelling)) continue;
    LOWER.set(spelling, name.toLowerCase());
    const bytes = new Uint8Array(spelling.length);
    for (let i = 0; i < spelling.length; i++) bytes[i] = spelling.charCodeAt(i);
    (BY_LENGTH[spelling.length] ??= []).push({ bytes, name: spelling });
  }
}

/** The constant string for b[start, end) when it is one of the known spellings (exact bytes), else null. */
export function knownHeaderName(b: Uint8Array, start: number, end: number): string | null {
  const candidates = BY_LENGTH[end - start];
  if (candidates === undefined) return null;
  for (let c = 0; c < candidates.length; c++) {
    const { bytes, name } = candidates[c] as { bytes: Uint8Array; name: string };
    let i = 0;
    while (i < bytes.length && b[start + i] === bytes[i]) i++;
    if (i === bytes.length) return name;
  }
  return null;
}

/** `name` lowercased; known names without allocating */
export function lowerHeaderName(name: string): string {
  return LOWER.get(name) ?? name.toLowerCase();
}
