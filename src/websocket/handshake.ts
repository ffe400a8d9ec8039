// The WebSocket opening handshake as a proxy checks it (RFC 6455 §4): the client's request must
// be a GET with one Sec-WebSocket-Key (base64 of 16 bytes) and version 13, and the upstream's 101
// must switch to WebSocket. Subprotocols and extensions are the upstream's to negotiate: their
// headers pass through both ways untouched.
import { badWebSocketHandshake, webSocketVersionUnsupported, type ProxyError } from '../http/errors.js';

const KEY = /^[A-Za-z0-9+/]{21}[AQgw]==$/;

/** null when the request is a WebSocket opening handshake meshlet can relay, else the error to answer. */
export function webSocketRequestProblem(method: string, headers: readonly string[]): ProxyError | null {
  if (method !== 'GET') return badWebSocketHandshake(`a WebSocket handshake is a GET request, not ${method}`);
  let key: string | null = null;
  let keys = 0;
  let version = '';
  for (let i = 0; i < headers.length; i += 2) {
    const name = headers[i] as string;
    if (name === 'sec-websocket-key') {
      keys++;
      key = headers[i + 1] as string;
    } else if (name === 'sec-websocket-version') {
      version = version === '' ? (headers[i + 1] as string) : `${version}, ${headers[i + 1] as string}`;
    }
  }
  if (keys !== 1 || key === null) return badWebSocketHandshake(keys === 0 ? 'missing Sec-WebSocket-Key' : 'more than one Sec-WebSocket-Key');
  if (!KEY.test(key)) return badWebSocketHandshake('Sec-WebSocket-Key is not the base64 of 16 bytes');
  if (version !== '13') return webSocketVersionUnsupported(version);
  return null;
}

/** The upstream's 101 (raw header names in any case): it names websocket in Upgrade and upgrade in Connection. */
export function upstreamSwitched(raw: readonly string[]): boolean {
  let upgrade = false;
  let connection = false;
  for (let i = 0; i < raw.length; i += 2) {
    const name = (raw[i] as string).toLowerCase();
    const value = (raw[i + 1] as string).toLowerCase();
    if (name === 'upgrade') upgrade = value.trim() === 'websocket';
    else if (name === 'connection') connection = value.split(',').some((t) => t.trim() === 'upgrade');
  }
  return upgrade && connection;
}
