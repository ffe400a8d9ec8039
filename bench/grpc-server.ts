// A grpc-js server of the Echo service (test/fixtures/grpc/echo.proto) for the HTTP/2 bench:
// `node dist/bench/grpc-server.js PORT`; prints "listening" when bound. Unary echoes the message.
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';

const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
const def = protoLoader.loadSync(path.join(REPO_ROOT, 'test/fixtures/grpc/echo.proto'), { keepCase: true, defaults: true });
const pkg = grpc.loadPackageDefinition(def) as unknown as { meshlet: { test: { Echo: grpc.ServiceClientConstructor } } };
const server = new grpc.Server();
server.addService(pkg.meshlet.test.Echo.service, {
  Unary(call: grpc.ServerUnaryCall<unknown, unknown>, cb: grpc.sendUnaryData<unknown>) {
    cb(null, call.request);
  },
});
server.bindAsync(`127.0.0.1:${process.argv[2]}`, grpc.ServerCredentials.createInsecure(), (err) => {
  if (err !== null) {
    process.stderr.write(`${err.message}\n`);
    process.exit(1);
  }
  process.stdout.write('listening\n');
});
