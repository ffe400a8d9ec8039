// Small client helpers: one request through meshlet with a Host header, body read as text.
import { request } from 'undici';
import type { Dispatcher } from 'undici';

export interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

export async function get(url: string, host: string, opts: Partial<Dispatcher.RequestOptions> = {}): Promise<Reply> {
  const res = await request(url, { ...opts, headers: { host, ...(opts.headers as Record<string, string> | undefined) } } as Dispatcher.RequestOptions);
  return { status: res.statusCode, headers: res.headers, body: await res.body.text() };
}

export async function getJson<T>(url: string, host: string, opts: Partial<Dispatcher.RequestOptions> = {}): Promise<{ status: number; headers: Reply['headers']; json: T }> {
  const r = await get(url, host, opts);
  return { status: r.status, headers: r.headers, json: JSON.parse(r.body) as T };
}
