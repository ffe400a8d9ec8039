// The server name (SNI) of a TLS ClientHello, read without terminating TLS (RFC 8446 §4.1.2,
// RFC 6066 §3): TLS records of type handshake are joined until the ClientHello is whole (it may
// span several records and reads), then its extensions are walked to server_name's host_name.

/** More bytes are needed. */
export const SNI_MORE = 0;
/** The ClientHello was read: `name` is its server name ('' when it has none). */
export const SNI_DONE = 1;
/** Not a TLS ClientHello (or a malformed one). */
export const SNI_INVALID = 2;

/** A ClientHello larger than this is refused (Envoy's tls_inspector reads at most 64 KiB; real ones are well under 2 KiB). */
export const MAX_CLIENT_HELLO = 16 * 1024;

const RECORD_HANDSHAKE = 0x16;
const CLIENT_HELLO = 1;
const EXT_SERVER_NAME = 0;
const HOST_NAME = 0;
const NAME = /^[A-Za-z0-9.-]{1,253}$/;

export interface SniResult {
  state: number;
  name: string;
  /** why, for SNI_INVALID */
  error: string;
}

/** Reads the ClientHello at the start of `buf` (everything the client sent so far). */
export function readSni(buf: Buffer, out: SniResult): SniResult {
  out.state = SNI_MORE;
  out.name = '';
  out.error = '';
  // the handshake message, gathered from consecutive records
  let hs: Buffer | null = null;
  let hsLen = -1;
  let at = 0;
  const parts: Buffer[] = [];
  let gathered = 0;
  while (hsLen < 0 || gathered < hsLen + 4) {
    if (at + 5 > buf.length) return more(out, buf);
    if (buf[at] !== RECORD_HANDSHAKE) return invalid(out, at === 0 ? 'not a TLS handshake' : 'a non-handshake record inside the ClientHello');
    if (buf[at + 1] !== 3) return invalid(out, 'not a TLS record');
    const len = buf.readUInt16BE(at + 3);
    if (len === 0) return invalid(out, 'empty handshake record');
    if (at + 5 + len > buf.length) return more(out, buf);
    parts.push(buf.subarray(at + 5, at + 5 + len));
    gathered += len;
    at += 5 + len;
    if (hsLen < 0 && gathered >= 4) {
      const head = parts.length === 1 ? (parts[0] as Buffer) : Buffer.concat(parts);
      if (head[0] !== CLIENT_HELLO) return invalid(out, 'the first handshake message is not a ClientHello');
      hsLen = (head[1] as number) << 16 | (head[2] as number) << 8 | (head[3] as number);
      if (hsLen + 4 > MAX_CLIENT_HELLO) return invalid(out, `ClientHello over ${MAX_CLIENT_HELLO} bytes`);
    }
  }
  hs = parts.length === 1 ? (parts[0] as Buffer) : Buffer.concat(parts);
  return parseClientHello(hs.subarray(4, 4 + hsLen), out);
}

function more(out: SniResult, buf: Buffer): SniResult {
  if (buf.length > MAX_CLIENT_HELLO + 5 * 4) return invalid(out, `ClientHello over ${MAX_CLIENT_HELLO} bytes`);
  out.state = SNI_MORE;
  return out;
}

function invalid(out: SniResult, error: string): SniResult {
  out.state = SNI_INVALID;
  out.error = error;
  return out;
}

function parseClientHello(b: Buffer, out: SniResult): SniResult {
  let p = 2 + 32; // legacy_version, random
  if (p + 1 > b.length) return invalid(out, 'truncated ClientHello');
  p += 1 + (b[p] as number); // legacy_session_id
  if (p + 2 > b.length) return invalid(out, 'truncated ClientHello');
  p += 2 + b.readUInt16BE(p); // cipher_suites
  if (p + 1 > b.length) return invalid(out, 'truncated ClientHello');
  p += 1 + (b[p] as number); // legacy_compression_methods
  if (p === b.length) return done(out, ''); // no extensions
  if (p + 2 > b.length) return invalid(out, 'truncated ClientHello');
  const end = p + 2 + b.readUInt16BE(p);
  if (end > b.length) return invalid(out, 'truncated ClientHello extensions');
  p += 2;
  while (p + 4 <= end) {
    const type = b.readUInt16BE(p);
    const len = b.readUInt16BE(p + 2);
    p += 4;
    if (p + len > end) return invalid(out, 'truncated ClientHello extension');
    if (type === EXT_SERVER_NAME) return serverName(b.subarray(p, p + len), out);
    p += len;
  }
  return done(out, '');
}

function serverName(e: Buffer, out: SniResult): SniResult {
  if (e.length < 2) return invalid(out, 'malformed server_name extension');
  const end = 2 + e.readUInt16BE(0);
  if (end > e.length) return invalid(out, 'malformed server_name extension');
  let p = 2;
  while (p + 3 <= end) {
    const type = e[p] as number;
    const len = e.readUInt16BE(p + 1);
    p += 3;
    if (p + len > end) return invalid(out, 'malformed server_name extension');
    if (type === HOST_NAME) {
      const name = e.toString('latin1', p, p + len);
      if (!NAME.test(name)) return invalid(out, 'server_name is not a host name');
      return done(out, name.toLowerCase());
    }
    p += len;
  }
  return done(out, '');
}

function done(out: SniResult, name: string): SniResult {
  out.state = SNI_DONE;
  out.name = name;
  return out;
}
