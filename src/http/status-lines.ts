// "200 OK"-style status lines for response heads, built once for every code node knows.
import { STATUS_CODES } from 'node:http';

const lines: string[] = [];
for (let code = 100; code < 600; code++) {
  const reason = STATUS_CODES[code];
  lines[code] = reason === undefined ? `${code} Status ${code}` : `${code} ${reason}`;
}

export function statusLine(code: number): string {
  return lines[code] ?? `${code} Unknown`;
}
