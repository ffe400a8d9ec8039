// Parse results kept per source file while its text is unchanged. A mesh sidecar re-plans its whole
// set on every store change, and between two changes nearly every key is the same: parsing only the
// texts that changed keeps an apply's cost proportional to the change, not to the set. Resources
// are plain data that validation and compilation only read, so reusing them is safe.
import { parseConfigText, type Loaded } from './load.js';

export class ParseMemo {
  private readonly entries = new Map<string, { text: string; loaded: Loaded }>();

  readonly parse = (file: string, text: string): Loaded => {
    const hit = this.entries.get(file);
    if (hit !== undefined && hit.text === text) return hit.loaded;
    const loaded = parseConfigText(file, text);
    this.entries.set(file, { text, loaded });
    return loaded;
  };

  /** Forgets every file not in `files` (keeps the memo the size of the current set). */
  retain(files: Iterable<string>): void {
    const keep = new Set(files);
    for (const f of this.entries.keys()) if (!keep.has(f)) this.entries.delete(f);
  }
}
