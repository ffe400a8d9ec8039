// Forwards one accepted connection (TLS-terminated or plaintext) to the internal listener:
// the PROXY v2 header naming its peer-table slot goes first, then bytes flow both ways until either
// side closes. The slot is released when the client connection is gone.
import net from 'node:net';
import type { Duplex } from 'node:stream';

export interface SpliceOwner {
  /** the client connection closed: release its slot, forget it */
  closed(client: Duplex, slot: number): void;
}

export function splice(client: net.Socket, internalPort: number, header: Buffer, first: Buffer | null, slot: number, owner: SpliceOwner): void {
  const up = net.connect({ host: '127.0.0.1', port: internalPort });
  up.setNoDelay(true);
  client.setNoDelay(true);
  up.write(header);
  if (first !== null) up.write(first);
  client.pipe(up);
  up.pipe(client);
  // errors end both sides; 'end' is propagated by pipe (the response is flushed before FIN)
  client.on('error', () => up.destroy());
  up.on('error', () => client.destroy());
  up.on('close', () => {
    if (!client.destroyed) client.end();
  });
  client.on('close', () => {
    up.destroy();
    owner.closed(client, slot);
  });
}
