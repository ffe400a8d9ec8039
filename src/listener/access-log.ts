// Access log: one pino JSON line per request with the fields Envoy users know, written through an
// asynchronous destination so the request path never waits on I/O; sampled; flushed on drain.
import pino from 'pino';

export interface AccessLogEntry {
  start_time: string;
  method: string;
  path: string;
  protocol: string;
  response_code: number;
  response_flags: string;
  bytes_received: number;
  bytes_sent: number;
  duration_ms: number;
  upstream_service_time_ms: number | null;
  upstream_host: string | null;
  upstream_cluster: string | null;
  route_name: string | null;
  authority: string;
  x_request_id: string;
  user_agent: string | null;
  downstream_remote_address: string;
  direction: string;
}

export class AccessLog {
  private readonly dest: pino.DestinationStream & { flushSync(): void; end(): void };
  private readonly logger: pino.Logger;
  private readonly sample: number;

  constructor(target: string, sample: number) {
    const dest = target === 'stdout'
      ? pino.destination({ fd: 1, sync: false, maxWrite: 4096, minLength: 2048 })
      : pino.destination({ dest: target, sync: false, append: true, mkdir: true, minLength: 8192 });
    this.dest = dest as unknown as AccessLog['dest'];
    this.logger = pino({ base: null, timestamp: false, messageKey: 'msg' }, dest);
    this.sample = sample;
  }

  /** Sampling is decided before the entry is built, so unsampled requests cost one Math.random(). */
  sampled(): boolean {
    return this.sample >= 1 || Math.random() < this.sample;
  }

  write(entry: AccessLogEntry): void {
    this.logger.info(entry);
  }

  /** Lines already accepted reach the file/pipe (graceful shutdown, crash path). */
  flush(): void {
    try {
      this.dest.flushSync();
    } catch {
      // sonic-boom throws when nothing is open yet; nothing to flush then
    }
  }
}
