// The app's API client. Routes, parameters and answers are typed from docs/openapi.yaml
// (src/api/schema.d.ts is generated from it by `npm run gen` at every build), so a route or field
// the API does not document fails the type check of the build.
import type { components, paths } from './schema';

export type Schemas = components['schemas'];
type Method = 'get' | 'post' | 'put' | 'patch' | 'delete';
type JsonOf<R> = R extends { content: { 'application/json': infer J } } ? J : never;
type Ok<Op> = Op extends { responses: infer R }
  ? { [K in keyof R]: K extends 200 | 201 | 202 | '200' | '201' | '202' ? JsonOf<R[K]> : never }[keyof R]
  : never;
type BodyOf<Op> = Op extends { requestBody?: { content: { 'application/json': infer B } } } ? B : never;

/** A refused request: the RFC 9457 problem the API answered (its `detail` is for people). */
export class ApiError extends Error {
  constructor(
    public status: number,
    public title: string,
    public detail: string,
    public problem: Record<string, unknown> = {},
  ) {
    super(detail || title);
  }
  get code(): string | undefined {
    const c = this.problem['code'] ?? this.problem['reason'];
    return typeof c === 'string' ? c : undefined;
  }
}

const TOKEN = 'caas.token';
export const session = {
  get token(): string | null {
    return localStorage.getItem(TOKEN);
  },
  set(token: string) {
    localStorage.setItem(TOKEN, token);
  },
  clear() {
    localStorage.removeItem(TOKEN);
  },
};

let onUnauthorized: () => void = () => {};
/** What to do when the session has ended (401 on an authenticated call): the login screen. */
export function setUnauthorizedHandler(f: () => void) {
  onUnauthorized = f;
}

export interface CallOptions<B> {
  params?: Record<string, string>;
  query?: Record<string, string | undefined>;
  body?: B;
  idempotencyKey?: string;
}

/** `method path` of the API, typed by the OpenAPI document. */
export async function api<P extends keyof paths, M extends keyof paths[P] & Method>(
  method: M,
  path: P,
  opts: CallOptions<BodyOf<paths[P][M]>> = {},
): Promise<Ok<paths[P][M]>> {
  let url = String(path).replace(/\{(\w+)\}/g, (_, k: string) => encodeURIComponent(opts.params?.[k] ?? ''));
  const q = Object.entries(opts.query ?? {}).filter(([, v]) => v !== undefined && v !== '');
  if (q.length) url += '?' + new URLSearchParams(q as [string, string][]).toString();
  const headers: Record<string, string> = { accept: 'application/json' };
  const token = session.token;
  if (token) headers['authorization'] = `Bearer ${token}`;
  if (opts.idempotencyKey) headers['idempotency-key'] = opts.idempotencyKey;
  let body: string | undefined;
  if (opts.body !== undefined) {
    headers['content-type'] = 'application/json';
    body = JSON.stringify(opts.body);
  }
  let res: Response;
  try {
    res = await fetch(url, { method: String(method).toUpperCase(), headers, body });
  } catch {
    throw new ApiError(0, 'offline', '');
  }
  const text = await res.text();
  let json: unknown = undefined;
  try {
    json = text ? JSON.parse(text) : undefined;
  } catch {
    json = undefined;
  }
  if (!res.ok) {
    const p = (json && typeof json === 'object' ? json : {}) as Record<string, unknown>;
    if (res.status === 401 && token) {
      session.clear();
      onUnauthorized();
    }
    throw new ApiError(res.status, String(p['title'] ?? res.statusText), String(p['detail'] ?? ''), p);
  }
  return json as Ok<paths[P][M]>;
}

/** Downloads an authenticated document (`GET path`) as `filename` (the API's attachment). */
export async function download(path: string, filename: string): Promise<void> {
  const headers: Record<string, string> = {};
  const token = session.token;
  if (token) headers['authorization'] = `Bearer ${token}`;
  let res: Response;
  try {
    res = await fetch(path, { headers });
  } catch {
    throw new ApiError(0, 'offline', '');
  }
  if (!res.ok) throw new ApiError(res.status, res.statusText, '');
  const url = URL.createObjectURL(await res.blob());
  const a = document.createElement('a');
  a.href = url;
  a.download = filename;
  document.body.appendChild(a);
  a.click();
  a.remove();
  window.setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

/** A fresh key for one user action (a purchase): a retry of the same action reuses it. */
export function newIdempotencyKey(): string {
  const b = new Uint8Array(16);
  crypto.getRandomValues(b);
  return Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
}
