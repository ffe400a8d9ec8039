// A trace collector on 127.0.0.1 for tests: takes OTLP/HTTP JSON (`POST /v1/traces`) or Zipkin v2
// JSON (`POST /api/v2/spans`), keeps the spans flattened, and resolves waiters when spans arrive.
import http from 'node:http';
import type net from 'node:net';
import { once } from 'node:events';

/** One span as received, in a shape common to both formats. */
export interface ReceivedSpan {
  format: 'otlp' | 'zipkin';
  service: string;
  traceId: string;
  spanId: string;
  parentId: string;
  /** OTLP enum (2 server, 3 client) or Zipkin name */
  kind: number | string;
  name: string;
  /** attribute / tag values as strings */
  attrs: Record<string, string>;
  raw: Record<string, unknown>;
}

export interface Collector {
  port: number;
  otlpUrl: string;
  zipkinUrl: string;
  spans: ReceivedSpan[];
  posts: { path: string; contentType: string | undefined }[];
  /** resolves with the spans once `pred` holds over everything received (checked at each POST) */
  waitFor(pred: (spans: ReceivedSpan[]) => boolean, timeoutMs?: number): Promise<ReceivedSpan[]>;
  close(): Promise<void>;
}

function flattenOtlp(body: any): ReceivedSpan[] {
  const out: ReceivedSpan[] = [];
  for (const rs of body.resourceSpans ?? []) {
    const service = (rs.resource?.attributes ?? []).find((a: any) => a.key === 'service.name')?.value?.stringValue ?? '';
    for (const ss of rs.scopeSpans ?? []) {
      for (const s of ss.spans ?? []) {
        const attrs: Record<string, string> = {};
        for (const a of s.attributes ?? []) attrs[a.key] = String(a.value.stringValue ?? a.value.intValue);
        out.push({ format: 'otlp', service, traceId: s.traceId, spanId: s.spanId, parentId: s.parentSpanId ?? '', kind: s.kind, name: s.name, attrs, raw: s });
      }
    }
  }
  return out;
}

function flattenZipkin(body: any[]): ReceivedSpan[] {
  return body.map((s) => ({
    format: 'zipkin' as const, service: s.localEndpoint?.serviceName ?? '', traceId: s.traceId, spanId: s.id, parentId: s.parentId ?? '',
    kind: s.kind, name: s.name, attrs: { ...s.tags }, raw: s,
  }));
}

export async function startCollector(): Promise<Collector> {
  let waiters: (() => void)[] = [];
  const c: Collector = {
    port: 0, otlpUrl: '', zipkinUrl: '', spans: [], posts: [],
    waitFor(pred, timeoutMs = 10_000) {
      return new Promise((resolve, reject) => {
        const check = (): boolean => {
          if (!pred(c.spans)) return false;
          clearTimeout(timer);
          resolve(c.spans);
          return true;
        };
        const timer = setTimeout(() => {
          waiters = waiters.filter((w) => w !== onPost);
          reject(new Error(`collector: condition not met within ${timeoutMs} ms; spans: ${JSON.stringify(c.spans.map((s) => [s.service, s.traceId, s.spanId, s.parentId, s.kind]))}`));
        }, timeoutMs);
        const onPost = (): void => { if (!check()) waiters.push(onPost); };
        if (!check()) waiters.push(onPost);
      });
    },
    close: () => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }),
  };
  const server = http.createServer((req, res) => {
    let data = '';
    req.setEncoding('utf8');
    req.on('data', (d: string) => { data += d; });
    req.on('end', () => {
      c.posts.push({ path: req.url ?? '', contentType: req.headers['content-type'] });
      let ok = req.method === 'POST';
      try {
        if (ok && req.url === '/v1/traces') c.spans.push(...flattenOtlp(JSON.parse(data)));
        else if (ok && req.url === '/api/v2/spans') c.spans.push(...flattenZipkin(JSON.parse(data) as any[]));
        else ok = false;
      } catch {
        ok = false;
      }
      res.statusCode = ok ? 200 : 400;
      res.end();
      const w = waiters;
      waiters = [];
      for (const f of w) f();
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  c.port = (server.address() as net.AddressInfo).port;
  c.otlpUrl = `http://127.0.0.1:${c.port}/v1/traces`;
  c.zipkinUrl = `http://127.0.0.1:${c.port}/api/v2/spans`;
  return c;
}
