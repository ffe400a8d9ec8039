// Counts the characters String.prototype.indexOf examines while `fn` runs: a deterministic
// measure of how a parser's work grows with its input (no timing).
export function indexOfScans(fn: () => void): number {
  const original = String.prototype.indexOf;
  let chars = 0;
  String.prototype.indexOf = function counted(this: string, search: string, from?: number): number {
    const at = original.call(this, search, from);
    const start = Math.min(Math.max(0, from ?? 0), this.length);
    chars += (at < 0 ? this.length : at + search.length) - start;
    return at;
  };
  try {
    fn();
  } finally {
    String.prototype.indexOf = original;
  }
  return chars;
}
