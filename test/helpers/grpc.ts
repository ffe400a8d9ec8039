// Real gRPC ends for the HTTP/2 tests: @grpc/grpc-js servers and clients of the Echo service
// (test/fixtures/grpc/echo.proto, loaded with @grpc/proto-loader).
import path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { REPO_ROOT } from './meshlet.js';

export interface Msg { text: string; payload: Buffer; seq: number }
export interface StreamRequest { count: number; size: number }
export interface Summary { messages: number; bytes: number | string }

type Unary<Req, Res> = (req: Req, md: grpc.Metadata, opts: grpc.CallOptions, cb: (err: grpc.ServiceError | null, res?: Res) => void) => grpc.ClientUnaryCall;

export interface EchoClient extends grpc.Client {
  Unary: Unary<Partial<Msg>, Msg>;
  ServerStream(req: StreamRequest, md?: grpc.Metadata, opts?: grpc.CallOptions): grpc.ClientReadableStream<Msg>;
  ClientStream(md: grpc.Metadata, opts: grpc.CallOptions, cb: (err: grpc.ServiceError | null, res?: Summary) => void): grpc.ClientWritableStream<Partial<Msg>>;
  Bidi(md?: grpc.Metadata, opts?: grpc.CallOptions): grpc.ClientDuplexStream<Partial<Msg>, Msg>;
}

const definition = protoLoader.loadSync(path.join(REPO_ROOT, 'test/fixtures/grpc/echo.proto'), {
  keepCase: true, longs: String, defaults: true, oneofs: true,
});
const pkg = grpc.loadPackageDefinition(definition) as unknown as { meshlet: { test: { Echo: grpc.ServiceClientConstructor } } };
export const EchoService = pkg.meshlet.test.Echo;

export type EchoHandlers = Partial<grpc.UntypedServiceImplementation>;

/** Default handlers: Unary echoes (text prefixed with `name`), ServerStream sends `count` messages, ClientStream sums, Bidi echoes. */
export function echoHandlers(name: string): grpc.UntypedServiceImplementation {
  return {
    Unary(call: grpc.ServerUnaryCall<Msg, Msg>, cb: grpc.sendUnaryData<Msg>) {
      const md = new grpc.Metadata();
      md.set('x-server', name);
      call.sendMetadata(md);
      cb(null, { text: `${name}:${call.request.text}`, payload: call.request.payload, seq: call.request.seq });
    },
    ServerStream(call: grpc.ServerWritableStream<StreamRequest, Msg>) {
      const { count, size } = call.request;
      const payload = Buffer.alloc(size, 120);
      let i = 0;
      const pump = (): void => {
        while (i < count) {
          const ok = call.write({ text: name, payload, seq: i++ });
          if (!ok) {
            call.once('drain', pump);
            return;
          }
        }
        call.end();
      };
      pump();
    },
    ClientStream(call: grpc.ServerReadableStream<Msg, Summary>, cb: grpc.sendUnaryData<Summary>) {
      let messages = 0;
      let bytes = 0;
      call.on('data', (m: Msg) => { messages++; bytes += m.payload.length; });
      call.on('end', () => cb(null, { messages, bytes }));
    },
    Bidi(call: grpc.ServerDuplexStream<Msg, Msg>) {
      call.on('data', (m: Msg) => {
        if (!call.write(m)) {
          call.pause();
          call.once('drain', () => call.resume());
        }
      });
      call.on('end', () => call.end());
    },
  };
}

export interface GrpcServer {
  server: grpc.Server;
  port: number;
  close(): Promise<void>;
}

/** A grpc-js server on 127.0.0.1 (plaintext h2c) with the Echo service. */
export async function startGrpcServer(handlers: grpc.UntypedServiceImplementation, options: grpc.ServerOptions = {}): Promise<GrpcServer> {
  const server = new grpc.Server(options);
  server.addService(EchoService.service, handlers);
  const port = await new Promise<number>((resolve, reject) => {
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) => (err === null ? resolve(p) : reject(err)));
  });
  return {
    server, port,
    close: () => new Promise<void>((resolve) => {
      server.tryShutdown(() => resolve());
      setTimeout(() => { server.forceShutdown(); resolve(); }, 2000).unref();
    }),
  };
}

/** A client of `target` (host:port) sending `authority` as :authority. */
export function echoClient(target: string, authority: string, options: grpc.ClientOptions = {}): EchoClient {
  return new EchoService(target, grpc.credentials.createInsecure(), { 'grpc.default_authority': authority, ...options }) as unknown as EchoClient;
}

export function unary(client: EchoClient, req: Partial<Msg>, opts: grpc.CallOptions = {}, md = new grpc.Metadata()): Promise<Msg> {
  return new Promise((resolve, reject) => {
    client.Unary(req, md, opts, (err, res) => (err === null ? resolve(res as Msg) : reject(err)));
  });
}

/** The call's error (a ServiceError), or null when it succeeded. */
export function unaryError(client: EchoClient, req: Partial<Msg>, opts: grpc.CallOptions = {}, md = new grpc.Metadata()): Promise<grpc.ServiceError | null> {
  return unary(client, req, opts, md).then(() => null, (err: grpc.ServiceError) => err);
}

/** A ServiceEntry `name` (port 80, GRPC unless `protocol` says otherwise) with one endpoint per port on 127.0.0.1. */
export function grpcServiceEntry(name: string, ports: number[], protocol = 'GRPC', portName = 'grpc'): string {
  return `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: ${name}}
spec:
  hosts: [${name}]
  resolution: STATIC
  ports: [{number: 80, name: ${portName}${protocol === '' ? '' : `, protocol: ${protocol}`}}]
  endpoints:
${ports.map((p) => `  - {address: 127.0.0.1, ports: {${portName}: ${p}}}`).join('\n')}
---
`;
}

export { grpc };

