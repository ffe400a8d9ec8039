// Each sidecar's status in the store (`<prefix>/status/<sidecar>`, on its lease, so a sidecar that
// dies leaves the table within the lease TTL), and the table `meshlet mesh status` prints from it:
// like `istioctl proxy-status`, one line per sidecar with the config generation it applied.

export type SyncState = 'SYNCED' | 'REJECTED';

export interface SidecarStatus {
  sidecar: string;
  /** `<namespace>/<name>` of the registered WorkloadEntry, or null */
  workload: string | null;
  /** config generation (store revision of the newest config change) the sidecar last tried */
  generation: number;
  /** store revision of the newest change (config or workloads) it last tried */
  revision: number;
  state: SyncState;
  /** why the last set was rejected (null when SYNCED) */
  error: string | null;
  ready: boolean;
  version: string;
  /** ISO time of this status */
  updated: string;
}

/** What `mesh status` shows: REJECTED when the newest set failed there, STALE when behind the store. */
export function displayState(s: SidecarStatus, storeGeneration: number): 'SYNCED' | 'STALE' | 'REJECTED' {
  if (s.state === 'REJECTED') return 'REJECTED';
  return s.generation < storeGeneration ? 'STALE' : 'SYNCED';
}

function age(fromIso: string, now: number): string {
  const s = Math.max(0, Math.round((now - Date.parse(fromIso)) / 1000));
  return s < 120 ? `${s}s` : s < 7200 ? `${Math.round(s / 60)}m` : `${Math.round(s / 3600)}h`;
}

/** The status table (text), sidecars sorted by name. */
export function renderStatusTable(rows: readonly SidecarStatus[], storeGeneration: number, now = Date.now()): string {
  const header = ['SIDECAR', 'WORKLOAD', 'GENERATION', 'STATE', 'READY', 'AGE', 'VERSION', 'ERROR'];
  const lines = [...rows].sort((a, b) => (a.sidecar < b.sidecar ? -1 : 1)).map((s) => [
    s.sidecar, s.workload ?? '-', String(s.generation), displayState(s, storeGeneration), s.ready ? 'yes' : 'no',
    age(s.updated, now), s.version, s.error === null ? '' : (s.error.split('\n')[0] ?? '').slice(0, 120),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => (l[i] as string).length)));
  const fmt = (cells: string[]): string => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i] as number))).join('  ').trimEnd();
  return [`store generation ${storeGeneration}, ${rows.length} sidecar${rows.length === 1 ? '' : 's'}`, fmt(header), ...lines.map(fmt)].join('\n') + '\n';
}

export function parseStatus(value: string): SidecarStatus | null {
  try {
    const v = JSON.parse(value) as SidecarStatus;
    return typeof v.sidecar === 'string' && typeof v.generation === 'number' ? v : null;
  } catch {
    return null;
  }
}

