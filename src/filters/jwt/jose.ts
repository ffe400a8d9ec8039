// jose, loaded when a worker first needs it: a generation with RequestAuthentication rules, or a
// key set from the control thread (data-plane.ts awaits loadJose() before either is used). A
// worker without RequestAuthentication never loads it (≈ 70 modules).
type Jose = typeof import('jose');

let lib: Jose | null = null;
let loading: Promise<Jose> | null = null;

export function loadJose(): Promise<Jose> {
  loading ??= import('jose').then((m) => (lib = m));
  return loading;
}

/** The loaded library; only code reached after loadJose() resolved calls this. */
export function jose(): Jose {
  if (lib === null) throw new Error('jose used before loadJose()');
  return lib;
}
