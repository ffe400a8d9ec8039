// Test scaffolding for the h1 codec: a raw `net` upstream on 127.0.0.1 that parses the requests
// it receives (so tests can answer with exact bytes and inspect what the codec sent), and a
// handler that collects one exchange's outcome.
import net from 'node:net';
import { Readable } from 'node:stream';
import type { ProxyError } from '../../../src/http/errors.js';
import type { PoolOptions, UpstreamController, UpstreamHandler, UpstreamPool, UpstreamRequest } from '../../../src/upstream/codec.js';

export const POOL_OPTIONS: PoolOptions = { connections: 4, idleTimeoutMs: 2000, connectTimeoutMs: 2000, maxRequestsPerConnection: 0, queueTimeoutMs: 0 };

export interface RawRequest {
  /** the exact bytes of the head (through the blank line) */
  head: string;
  method: string;
  path: string;
  version: string;
  /** [lowercase name, value] in order */
  headers: [string, string][];
  /** decoded body */
  body: Buffer;
  /** the exact body bytes as framed on the wire */
  rawBody: Buffer;
  framing: 'none' | 'length' | 'chunked';
  socket: net.Socket;
  /** index of the accepting connection (0-based, in accept order) */
  connection: number;
}

export interface RawServer {
  port: number;
  requests: RawRequest[];
  /** connections accepted so far */
  accepted: number;
  /** connections open now */
  open: number;
  /** most connections open at once */
  maxOpen: number;
  sockets: Set<net.Socket>;
  close(): Promise<void>;
}

export type Responder = (req: RawRequest) => void;

/** Parses complete requests off the front of `buf`; returns the parsed ones and the bytes left over. */
function parseRequests(buf: Buffer, socket: net.Socket, connection: number): { reqs: RawRequest[]; rest: Buffer } {
  const reqs: RawRequest[] = [];
  let off = 0;
  for (;;) {
    const end = buf.indexOf('\r\n\r\n', off, 'latin1');
    if (end < 0) break;
    const head = buf.toString('latin1', off, end + 4);
    const lines = head.slice(0, -4).split('\r\n');
    const [method = '', path = '', version = ''] = (lines[0] ?? '').split(' ');
    const headers: [string, string][] = [];
    for (const line of lines.slice(1)) {
      const colon = line.indexOf(':');
      headers.push([line.slice(0, colon).toLowerCase(), line.slice(colon + 1).trim()]);
    }
    const cl = headers.find(([n]) => n === 'content-length');
    const te = headers.find(([n]) => n === 'transfer-encoding');
    let pos = end + 4;
    let body = Buffer.alloc(0);
    let framing: RawRequest['framing'] = 'none';
    if (te !== undefined) {
      framing = 'chunked';
      const parts: Buffer[] = [];
      let p = pos;
      let complete = false;
      for (;;) {
        const lineEnd = buf.indexOf('\r\n', p, 'latin1');
        if (lineEnd < 0) break;
        const size = parseInt(buf.toString('latin1', p, lineEnd), 16);
        if (size === 0) {
          if (buf.length < lineEnd + 4) break;
          p = lineEnd + 4;
          complete = true;
          break;
        }
        if (buf.length < lineEnd + 2 + size + 2) break;
        parts.push(buf.subarray(lineEnd + 2, lineEnd + 2 + size));
        p = lineEnd + 2 + size + 2;
      }
      if (!complete) break;
      body = Buffer.concat(parts);
      const rawBody = Buffer.from(buf.subarray(pos, p));
      pos = p;
      reqs.push({ head, method, path, version, headers, body, rawBody, framing, socket, connection });
      off = pos;
      continue;
    }
    if (cl !== undefined) {
      framing = 'length';
      const n = Number(cl[1]);
      if (buf.length < pos + n) break;
      body = Buffer.from(buf.subarray(pos, pos + n));
      pos += n;
    }
    reqs.push({ head, method, path, version, headers, body, rawBody: body, framing, socket, connection });
    off = pos;
  }
  return { reqs, rest: buf.subarray(off) };
}

/** A raw upstream: `respond` is called once per complete request and writes whatever bytes it likes. */
export async function startRawServer(respond: Responder): Promise<RawServer> {
  const sockets = new Set<net.Socket>();
  const state: RawServer = {
    port: 0,
    requests: [],
    accepted: 0,
    open: 0,
    maxOpen: 0,
    sockets,
    close: () => new Promise<void>((resolve) => {
      for (const s of sockets) s.destroy();
      server.close(() => resolve());
    }),
  };
  const server = net.createServer((socket) => {
    const connection = state.accepted++;
    state.open++;
    state.maxOpen = Math.max(state.maxOpen, state.open);
    sockets.add(socket);
    socket.setNoDelay(true);
    let pending: Buffer = Buffer.alloc(0);
    socket.on('data', (d: Buffer) => {
      pending = pending.length === 0 ? d : Buffer.concat([pending, d]);
      const { reqs, rest } = parseRequests(pending, socket, connection);
      pending = Buffer.from(rest);
      for (const r of reqs) {
        state.requests.push(r);
        respond(r);
      }
    });
    socket.on('error', () => undefined);
    socket.on('close', () => {
      state.open--;
      sockets.delete(socket);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  state.port = (server.address() as net.AddressInfo).port;
  return state;
}

/** Writes `parts` one after another, each in its own write, waiting `gapMs` between (0: setImmediate). */
export async function writeParts(socket: net.Socket, parts: (string | Buffer)[], gapMs = 0): Promise<void> {
  for (let i = 0; i < parts.length; i++) {
    if (socket.destroyed) return;
    const p = parts[i] as string | Buffer;
    socket.write(typeof p === 'string' ? Buffer.from(p, 'latin1') : p);
    if (i < parts.length - 1) await new Promise((r) => (gapMs > 0 ? setTimeout(r, gapMs) : setImmediate(r)));
  }
}

/** Splits into 1-byte pieces. */
export function bytes(s: string | Buffer): Buffer[] {
  const b = typeof s === 'string' ? Buffer.from(s, 'latin1') : s;
  const out: Buffer[] = [];
  for (let i = 0; i < b.length; i++) out.push(b.subarray(i, i + 1));
  return out;
}

export interface Outcome {
  kind: 'end' | 'error';
  status: number;
  headers: string[];
  body: Buffer;
  error: ProxyError | null;
  /** callbacks in order, e.g. ['start', 'headers', 'data', 'end'] (data collapsed) */
  events: string[];
  controller: UpstreamController | null;
  /** the controller's filteredLength when the head arrived (undefined: the codec hands heads out as received) */
  filteredLength?: number;
}

/** A handler that records everything; `done` resolves at the first end or error (`endings` counts them all). */
export class Collector implements UpstreamHandler {
  readonly outcome: Outcome = { kind: 'end', status: 0, headers: [], body: Buffer.alloc(0), error: null, events: [], controller: null };
  readonly chunks: Buffer[] = [];
  readonly done: Promise<Outcome>;
  endings = 0;
  onData: ((chunk: Buffer, c: Collector) => void) | null = null;
  onHeaders: ((c: Collector) => void) | null = null;
  private resolve!: (o: Outcome) => void;

  constructor() {
    this.done = new Promise((resolve) => { this.resolve = resolve; });
  }

  get controller(): UpstreamController {
    return this.outcome.controller as UpstreamController;
  }

  onUpstreamStart(controller: UpstreamController): void {
    this.outcome.events.push('start');
    this.outcome.controller = controller;
  }

  onUpstreamHeaders(status: number, headers: string[]): void {
    this.outcome.events.push('headers');
    this.outcome.status = status;
    this.outcome.headers = headers;
    this.outcome.filteredLength = this.outcome.controller?.filteredLength;
    this.onHeaders?.(this);
  }

  onUpstreamData(chunk: Buffer): void {
    if (this.outcome.events[this.outcome.events.length - 1] !== 'data') this.outcome.events.push('data');
    this.chunks.push(Buffer.from(chunk));
    this.onData?.(chunk, this);
  }

  onUpstreamEnd(): void {
    this.finish('end', null);
  }

  onUpstreamError(err: ProxyError): void {
    this.finish('error', err);
  }

  private finish(kind: Outcome['kind'], err: ProxyError | null): void {
    this.endings++;
    this.outcome.events.push(kind);
    if (this.endings > 1) return;
    this.outcome.kind = kind;
    this.outcome.error = err;
    this.outcome.body = Buffer.concat(this.chunks);
    this.resolve(this.outcome);
  }
}

export function request(method: string, path: string, port: number, extra: string[] = [], body: Readable | null = null, contentLength = -1): UpstreamRequest {
  return { method, path, headers: ['host', `127.0.0.1:${port}`, ...extra], body, contentLength };
}

/** Runs one exchange on `pool` and waits for its ending. */
export function exchange(pool: UpstreamPool, req: UpstreamRequest, setup?: (c: Collector) => void): Promise<Outcome> {
  const c = new Collector();
  setup?.(c);
  pool.dispatch(req, c);
  return c.done;
}

export function bodyStream(parts: (string | Buffer)[], gapMs = 0): Readable {
  let i = 0;
  return new Readable({
    read() {
      if (i >= parts.length) {
        this.push(null);
        return;
      }
      const p = parts[i++] as string | Buffer;
      const buf = typeof p === 'string' ? Buffer.from(p) : p;
      if (gapMs > 0) setTimeout(() => this.push(buf), gapMs);
      else this.push(buf);
    },
  });
}

/** Headers as a sorted multiset of "lowercased-name: value" for comparison across codecs. */
export function headerMultiset(flat: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < flat.length; i += 2) out.push(`${(flat[i] as string).toLowerCase()}: ${flat[i + 1]}`);
  return out.sort();
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** A port nothing listens on. */
export async function closedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** Deterministic PRNG (mulberry32) for reproducible fuzzing. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
