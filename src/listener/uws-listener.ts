// One uWS App per listener (the port tells inbound from outbound). Every worker listens on the
// same ports; the kernel spreads connections across them (SO_REUSEPORT).
import { uWS, type HttpRequest, type HttpResponse, type TemplatedApp, type us_listen_socket } from '../uws.js';
import { handleRequest } from './proxy-request.js';
import type { ListenerRuntime } from './worker-state.js';

export class UwsListener {
  readonly runtime: ListenerRuntime;
  private readonly app: TemplatedApp;
  private socket: us_listen_socket | null = null;

  constructor(runtime: ListenerRuntime) {
    this.runtime = runtime;
    this.app = uWS.App();
    this.app.any('/*', (res: HttpResponse, req: HttpRequest) => handleRequest(res, req, runtime));
  }

  listen(): Promise<void> {
    const { listenBind: bind, listenPort: port } = this.runtime;
    const name = this.runtime.spec.name;
    return new Promise((resolve, reject) => {
      this.app.listen(bind, port, (socket) => {
        if (socket === false) reject(new Error(`listener ${name}: cannot listen on ${bind}:${port}`));
        else {
          this.socket = socket;
          resolve();
        }
      });
    });
  }

  /** Stop accepting new connections; existing ones keep being served. */
  stopAccepting(): void {
    if (this.socket !== null) {
      uWS.us_listen_socket_close(this.socket);
      this.socket = null;
    }
  }

  /** Close every connection (after drain). */
  close(): void {
    this.stopAccepting();
    (this.app as unknown as { close(): void }).close();
  }
}
