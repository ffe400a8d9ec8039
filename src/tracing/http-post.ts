// One JSON POST to a collector over a keep-alive agent (per worker, two sockets at most), with a
// deadline; anything but a 2xx answer is an error (the batch counts as dropped).
import http from 'node:http';
import https from 'node:https';
import type { SpanExporter } from './batcher.js';
import type { Span } from './span.js';

export class JsonPoster {
  readonly url: URL;
  private readonly agent: http.Agent;
  private readonly timeoutMs: number;
  private readonly secure: boolean;

  constructor(endpoint: string, timeoutMs: number) {
    this.url = new URL(endpoint);
    if (this.url.protocol !== 'http:' && this.url.protocol !== 'https:') throw new Error(`trace collector URL must be http:// or https://, got "${endpoint}"`);
    this.secure = this.url.protocol === 'https:';
    const options: http.AgentOptions = { keepAlive: true, maxSockets: 2, keepAliveMsecs: 1000 };
    this.agent = this.secure ? new https.Agent(options) : new http.Agent(options);
    this.timeoutMs = timeoutMs;
  }

  post(body: string): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const payload = Buffer.from(body);
      const req = (this.secure ? https : http).request(this.url, {
        method: 'POST',
        agent: this.agent,
        headers: { 'content-type': 'application/json', 'content-length': payload.length },
        timeout: this.timeoutMs,
      }, (res) => {
        res.resume();
        res.once('end', () => {
          const status = res.statusCode ?? 0;
          if (status >= 200 && status < 300) resolve();
          else reject(new Error(`collector answered ${status}`));
        });
        res.once('error', reject);
      });
      req.once('timeout', () => req.destroy(new Error(`no answer from the collector within ${this.timeoutMs} ms`)));
      req.once('error', reject);
      req.end(payload);
    });
  }

  close(): void {
    this.agent.destroy();
  }
}

/** A collector endpoint taking JSON batches; `body` renders a batch in its format (OTLP or Zipkin). */
export class JsonSpanExporter implements SpanExporter {
  private readonly poster: JsonPoster;
  readonly target: string;

  constructor(
    endpoint: string,
    private readonly body: (spans: readonly Span[], serviceName: string, nodeId: string) => string,
    private readonly serviceName: string,
    private readonly nodeId: string,
    timeoutMs: number,
  ) {
    this.poster = new JsonPoster(endpoint, timeoutMs);
    this.target = endpoint;
  }

  export(spans: Span[]): Promise<void> {
    return this.poster.post(this.body(spans, this.serviceName, this.nodeId));
  }

  close(): void {
    this.poster.close();
  }
}
