// The TLS front thread: owns the public port of every inbound listener in PERMISSIVE or STRICT
// mode, terminates mTLS, records each connection's peer in the shared peer table and forwards the
// connection to the data-plane workers' internal listener behind a PROXY v2 header.
import type { MessagePort } from 'node:worker_threads';
import { configureWorkerLog } from '../../log.js';
import { PeerSlots } from '../peer-table.js';
import { FrontListener } from './front-listener.js';
import type { FromFront, FrontOptions, ToFront } from './front-protocol.js';

export async function runFront(options: FrontOptions, port: MessagePort): Promise<void> {
  const send = (msg: FromFront): void => port.postMessage(msg);
  configureWorkerLog(options.logLevel);
  const slots = new PeerSlots(options.table);
  const listeners = options.listeners.map((spec) => new FrontListener(spec, slots, options.identity));
  try {
    await Promise.all(listeners.map((l) => l.listen()));
  } catch (err) {
    for (const l of listeners) l.destroyAll();
    send({ type: 'fatal', message: `TLS front: ${(err as Error).message}` });
    port.close();
    return;
  }
  port.on('message', (msg: ToFront) => {
    if (msg.type === 'identity') {
      try {
        for (const l of listeners) l.setIdentity(msg.identity);
        send({ type: 'rotated', spiffeId: msg.identity.spiffeId, notAfter: msg.identity.notAfter.toISOString() });
      } catch (err) {
        send({ type: 'identity-refused', message: (err as Error).message });
      }
    } else if (msg.type === 'stop-accepting') {
      for (const l of listeners) l.stopAccepting();
    } else if (msg.type === 'stop') {
      for (const l of listeners) l.destroyAll();
      port.close(); // nothing else keeps the thread alive: it exits
    }
  });
  send({ type: 'ready' });
}
