// Telemetry accessLogging `filter.expression`: the part of CEL the common filters use, parsed once
// at validation into plain data (it travels in the snapshot) and evaluated per logged request by
// a small interpreter (no closure, no regex, no allocation per request).
//   attributes  response.code, response.size, request.duration, request.size, request.method,
//               request.path, request.url_path, request.host, request.scheme, request.useragent,
//               request.id, request.headers['name'], connection.mtls
//   literals    integers, 'strings' / "strings", true, false, duration('1.5s' | '250ms' | '2m')
//   operators   == != < <= > >=, && || !, ( ), x.startsWith(s) x.endsWith(s) x.contains(s)
// Anything else is refused with the reason (the validator warns and logs without the filter).

export type FilterValueType = 'int' | 'string' | 'bool' | 'duration';

export type Operand =
  | { kind: 'attr'; name: string; header: string | null; type: FilterValueType }
  | { kind: 'lit'; value: number | string | boolean; type: FilterValueType };

export type FilterNode =
  | { op: 'or' | 'and'; a: FilterNode; b: FilterNode }
  | { op: 'not'; a: FilterNode }
  | { op: 'cmp'; cmp: '==' | '!=' | '<' | '<=' | '>' | '>='; a: Operand; b: Operand }
  | { op: 'str'; fn: 'startsWith' | 'endsWith' | 'contains'; a: Operand; b: Operand }
  | { op: 'bool'; a: Operand };

const ATTRIBUTES: Record<string, FilterValueType> = {
  'response.code': 'int', 'response.size': 'int', 'request.size': 'int', 'request.duration': 'duration',
  'request.method': 'string', 'request.path': 'string', 'request.url_path': 'string', 'request.host': 'string',
  'request.scheme': 'string', 'request.useragent': 'string', 'request.id': 'string', 'connection.mtls': 'bool',
};

export class FilterParseError extends Error {}

type Token = { t: 'num' | 'str' | 'id' | 'op'; v: string };

function tokenize(src: string): Token[] {
  const out: Token[] = [];
  let i = 0;
  while (i < src.length) {
    const c = src[i] as string;
    if (c === ' ' || c === '\t' || c === '\n' || c === '\r') { i++; continue; }
    if (c === "'" || c === '"') {
      let j = i + 1;
      let v = '';
      while (j < src.length && src[j] !== c) {
        if (src[j] === '\\') {
          const n = src[j + 1];
          if (n === undefined) break;
          v += n === 'n' ? '\n' : n === 't' ? '\t' : n;
          j += 2;
        } else v += src[j++];
      }
      if (j >= src.length) throw new FilterParseError('unterminated string');
      out.push({ t: 'str', v });
      i = j + 1;
      continue;
    }
    const two = src.slice(i, i + 2);
    if (['==', '!=', '<=', '>=', '&&', '||'].includes(two)) { out.push({ t: 'op', v: two }); i += 2; continue; }
    if ('<>!()[].,'.includes(c)) { out.push({ t: 'op', v: c }); i++; continue; }
    const num = /^\d+/.exec(src.slice(i));
    if (num !== null) { out.push({ t: 'num', v: num[0] }); i += num[0].length; continue; }
    const id = /^[A-Za-z_][A-Za-z0-9_]*/.exec(src.slice(i));
    if (id !== null) { out.push({ t: 'id', v: id[0] }); i += id[0].length; continue; }
    throw new FilterParseError(`unexpected character "${c}"`);
  }
  return out;
}

/** `1.5s`, `250ms`, `2m`, `1h` → milliseconds (CEL's duration()). */
function durationMs(s: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)$/.exec(s);
  if (m === null) throw new FilterParseError(`bad duration "${s}" (e.g. '1.5s', '250ms')`);
  const n = Number(m[1]);
  return m[2] === 'ms' ? n : m[2] === 's' ? n * 1000 : m[2] === 'm' ? n * 60_000 : n * 3_600_000;
}

class Parser {
  private i = 0;
  constructor(private readonly toks: Token[]) {}

  parse(): FilterNode {
    const n = this.or();
    if (this.i < this.toks.length) throw new FilterParseError(`unexpected "${(this.toks[this.i] as Token).v}"`);
    return n;
  }

  private peek(v: string): boolean {
    const t = this.toks[this.i];
    return t !== undefined && t.t === 'op' && t.v === v;
  }

  private expect(v: string): void {
    if (!this.peek(v)) throw new FilterParseError(`expected "${v}"`);
    this.i++;
  }

  private or(): FilterNode {
    let a = this.and();
    while (this.peek('||')) { this.i++; a = { op: 'or', a, b: this.and() }; }
    return a;
  }

  private and(): FilterNode {
    let a = this.unary();
    while (this.peek('&&')) { this.i++; a = { op: 'and', a, b: this.unary() }; }
    return a;
  }

  private unary(): FilterNode {
    if (this.peek('!')) { this.i++; return { op: 'not', a: this.unary() }; }
    if (this.peek('(')) {
      this.i++;
      const n = this.or();
      this.expect(')');
      return n;
    }
    const a = this.operand();
    if (this.peek('.')) {
      this.i++;
      const fn = this.toks[this.i++];
      if (fn === undefined || fn.t !== 'id' || !['startsWith', 'endsWith', 'contains'].includes(fn.v)) {
        throw new FilterParseError(`unsupported method ${fn?.v ?? ''} (startsWith, endsWith, contains)`);
      }
      this.expect('(');
      const b = this.operand();
      this.expect(')');
      if (a.type !== 'string' || b.type !== 'string') throw new FilterParseError(`${fn.v}() takes strings`);
      return { op: 'str', fn: fn.v as 'startsWith' | 'endsWith' | 'contains', a, b };
    }
    const t = this.toks[this.i];
    if (t !== undefined && t.t === 'op' && ['==', '!=', '<', '<=', '>', '>='].includes(t.v)) {
      this.i++;
      const b = this.operand();
      if (a.type !== b.type) throw new FilterParseError(`cannot compare ${a.type} with ${b.type}`);
      if ((a.type === 'bool' || a.type === 'string') && t.v !== '==' && t.v !== '!=') throw new FilterParseError(`${t.v} needs numbers or durations`);
      return { op: 'cmp', cmp: t.v as '==' | '!=' | '<' | '<=' | '>' | '>=', a, b };
    }
    if (a.type !== 'bool') throw new FilterParseError('the expression must be a condition (true or false)');
    return { op: 'bool', a };
  }

  private operand(): Operand {
    const t = this.toks[this.i++];
    if (t === undefined) throw new FilterParseError('unexpected end');
    if (t.t === 'num') return { kind: 'lit', value: Number(t.v), type: 'int' };
    if (t.t === 'str') return { kind: 'lit', value: t.v, type: 'string' };
    if (t.t !== 'id') throw new FilterParseError(`unexpected "${t.v}"`);
    if (t.v === 'true' || t.v === 'false') return { kind: 'lit', value: t.v === 'true', type: 'bool' };
    if (t.v === 'duration') {
      this.expect('(');
      const s = this.toks[this.i++];
      if (s === undefined || s.t !== 'str') throw new FilterParseError("duration() takes a string, e.g. duration('1s')");
      this.expect(')');
      return { kind: 'lit', value: durationMs(s.v), type: 'duration' };
    }
    let name = t.v;
    // a.b.c — but not a method call (`.name(`), which unary() reads
    while (this.peek('.') && this.toks[this.i + 1]?.t === 'id' && !(this.toks[this.i + 2]?.t === 'op' && this.toks[this.i + 2]?.v === '(')) {
      name += `.${(this.toks[this.i + 1] as Token).v}`;
      this.i += 2;
    }
    if (name === 'request.headers') {
      this.expect('[');
      const h = this.toks[this.i++];
      if (h === undefined || h.t !== 'str') throw new FilterParseError("request.headers['name'] takes a string");
      this.expect(']');
      return { kind: 'attr', name, header: h.v.toLowerCase(), type: 'string' };
    }
    const type = ATTRIBUTES[name];
    if (type === undefined) throw new FilterParseError(`attribute ${name} is not supported (${Object.keys(ATTRIBUTES).join(', ')}, request.headers['…'])`);
    return { kind: 'attr', name, header: null, type };
  }
}

export function parseFilter(expression: string): FilterNode {
  return new Parser(tokenize(expression)).parse();
}

/** What a filter reads from a finished request; one reusable object per worker. */
export interface LogContext {
  responseCode: number;
  responseSize: number;
  requestSize: number;
  durationMs: number;
  method: string;
  path: string;
  query: string;
  host: string;
  scheme: string;
  requestId: string;
  mtls: boolean;
  headers: readonly string[];
}

function headerValue(headers: readonly string[], name: string): string {
  for (let i = 0; i < headers.length; i += 2) if (headers[i] === name) return headers[i + 1] as string;
  return '';
}

function value(o: Operand, c: LogContext): number | string | boolean {
  if (o.kind === 'lit') return o.value;
  switch (o.name) {
    case 'response.code': return c.responseCode;
    case 'response.size': return c.responseSize;
    case 'request.size': return c.requestSize;
    case 'request.duration': return c.durationMs;
    case 'request.method': return c.method;
    case 'request.path': return c.query === '' ? c.path : `${c.path}?${c.query}`;
    case 'request.url_path': return c.path;
    case 'request.host': return c.host;
    case 'request.scheme': return c.scheme;
    case 'request.useragent': return headerValue(c.headers, 'user-agent');
    case 'request.id': return c.requestId;
    case 'connection.mtls': return c.mtls;
    case 'request.headers': return headerValue(c.headers, o.header as string);
    default: return '';
  }
}

export function evaluateFilter(n: FilterNode, c: LogContext): boolean {
  switch (n.op) {
    case 'or': return evaluateFilter(n.a, c) || evaluateFilter(n.b, c);
    case 'and': return evaluateFilter(n.a, c) && evaluateFilter(n.b, c);
    case 'not': return !evaluateFilter(n.a, c);
    case 'bool': return value(n.a, c) === true;
    case 'str': {
      const a = value(n.a, c) as string;
      const b = value(n.b, c) as string;
      return n.fn === 'startsWith' ? a.startsWith(b) : n.fn === 'endsWith' ? a.endsWith(b) : a.includes(b);
    }
    case 'cmp': {
      const a = value(n.a, c);
      const b = value(n.b, c);
      switch (n.cmp) {
        case '==': return a === b;
        case '!=': return a !== b;
        case '<': return a < b;
        case '<=': return a <= b;
        case '>': return a > b;
        case '>=': return a >= b;
      }
    }
  }
}
