// WebSocket clients and servers for the tests (the `ws` package on both ends).
import type { IncomingMessage } from 'node:http';
import type net from 'node:net';
import WebSocket, { WebSocketServer } from 'ws';

export interface WsServer {
  wss: WebSocketServer;
  port: number;
  /** the upgrade requests seen, newest last */
  requests: IncomingMessage[];
  /** close codes the server saw, in order */
  closes: number[];
  close(): Promise<void>;
}

/** An echo server (text stays text, binary stays binary) that answers "who" with `name`. */
export function wsEchoServer(name: string, options: ConstructorParameters<typeof WebSocketServer>[0] = {}): Promise<WsServer> {
  return new Promise((resolve) => {
    const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, ...options });
    const out: WsServer = {
      wss, port: 0, requests: [], closes: [],
      close: () => new Promise<void>((r) => {
        for (const c of wss.clients) c.terminate();
        wss.close(() => r());
      }),
    };
    wss.on('connection', (ws, req) => {
      out.requests.push(req);
      ws.on('message', (data, isBinary) => {
        if (!isBinary && data.toString() === 'who') ws.send(name);
        else ws.send(data, { binary: isBinary });
      });
      ws.on('close', (code) => out.closes.push(code));
      ws.on('error', () => undefined);
    });
    wss.on('listening', () => {
      out.port = (wss.address() as net.AddressInfo).port;
      resolve(out);
    });
  });
}

export interface OpenResult {
  ws: WebSocket | null;
  /** the status of a refused upgrade (unexpected-response), 101 when it opened */
  status: number;
  body: string;
  headers: Record<string, string | string[] | undefined>;
}

/** Opens ws://127.0.0.1:`port``path` with Host `host`; resolves with the socket or the refusing response. */
export function openWs(port: number, host: string, path = '/', options: WebSocket.ClientOptions = {}, protocols?: string[]): Promise<OpenResult> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${port}${path}`, protocols, { ...options, headers: { host, ...(options.headers ?? {}) } });
    let headers: Record<string, string | string[] | undefined> = {};
    ws.on('upgrade', (res) => { headers = res.headers; });
    ws.once('open', () => resolve({ ws, status: 101, body: '', headers }));
    ws.once('unexpected-response', (_req, res) => {
      let body = '';
      res.on('data', (d: Buffer) => { body += d.toString(); });
      res.on('end', () => resolve({ ws: null, status: res.statusCode ?? 0, body, headers: res.headers }));
    });
    ws.once('error', (err) => reject(err));
  });
}

/** The next message (as text unless binary). */
export function nextMessage(ws: WebSocket): Promise<{ data: Buffer; binary: boolean }> {
  return new Promise((resolve, reject) => {
    const onClose = (): void => reject(new Error('closed before a message'));
    ws.once('message', (data, binary) => {
      ws.off('close', onClose);
      resolve({ data: Buffer.isBuffer(data) ? data : Buffer.concat(data as Buffer[]), binary });
    });
    ws.once('close', onClose);
  });
}

export async function roundTrip(ws: WebSocket, text: string): Promise<string> {
  const reply = nextMessage(ws);
  ws.send(text);
  return (await reply).data.toString();
}

/** Resolves with [code, reason] when `ws` closes. */
export function closed(ws: WebSocket): Promise<[number, string]> {
  return new Promise((resolve) => {
    if (ws.readyState === WebSocket.CLOSED) return resolve([1006, '']);
    ws.once('close', (code, reason) => resolve([code, reason.toString()]));
  });
}
