// Control-thread side of the shared upstream state: gives each cluster and (cluster, endpoint) of a
// snapshot a slot, keeping the slot of a name that survives a reload (counters, ejections and slow
// start carry over). Slots of removed names are reused only after a quarantine, so requests still
// finishing on an old generation never touch a slot that now means something else.
import type { Snapshot } from '../../config/snapshot.js';
import { CLUSTER_SLOTS, ENDPOINT_SLOTS, SharedUpstreamState } from './layout.js';
import { endpointKey } from '../endpoint.js';

const QUARANTINE_MS = 5 * 60_000;

class SlotTable {
  private readonly byName = new Map<string, number>();
  private readonly free: { slot: number; since: number }[] = [];
  private next = 0;
  constructor(private readonly capacity: number) {}

  /** Slot for `name`, or -1 when the table is full; `fresh` is called for a newly taken slot. */
  take(name: string, now: number, fresh: (slot: number) => void): number {
    const known = this.byName.get(name);
    if (known !== undefined) return known;
    let slot = -1;
    if (this.next < this.capacity) slot = this.next++;
    else if (this.free.length > 0 && now - (this.free[0] as { since: number }).since >= QUARANTINE_MS) slot = (this.free.shift() as { slot: number }).slot;
    if (slot < 0) return -1;
    fresh(slot);
    this.byName.set(name, slot);
    return slot;
  }

  /** Releases every name not in `live`. */
  retain(live: Set<string>, now: number): void {
    for (const [name, slot] of this.byName) {
      if (live.has(name)) continue;
      this.byName.delete(name);
      this.free.push({ slot, since: now });
    }
  }

  get(name: string): number {
    return this.byName.get(name) ?? -1;
  }
}

export class UpstreamSlots {
  readonly state = new SharedUpstreamState();
  private readonly clusters = new SlotTable(CLUSTER_SLOTS);
  private readonly endpoints = new SlotTable(ENDPOINT_SLOTS);
  /** names that got no slot (table full): their limits are not enforced; reported once */
  readonly overflowed: string[] = [];

  /** Writes slots into the snapshot's clusters and endpoints (before it is posted to workers). */
  assign(snapshot: Snapshot, now = Date.now()): void {
    const liveClusters = new Set<string>();
    const liveEndpoints = new Set<string>();
    for (const c of snapshot.clusters) {
      liveClusters.add(c.name);
      c.slot = this.clusters.take(c.name, now, (s) => this.state.resetCluster(s));
      if (c.slot < 0) this.overflowed.push(c.name);
      for (const e of c.endpoints) {
        const name = `${c.name}#${endpointKey(e.address, e.port)}`;
        liveEndpoints.add(name);
        e.slot = this.endpoints.take(name, now, (s) => this.state.resetEndpoint(s, now));
        if (e.slot < 0) this.overflowed.push(name);
      }
    }
    this.clusters.retain(liveClusters, now);
    this.endpoints.retain(liveEndpoints, now);
  }
}
