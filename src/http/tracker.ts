import { z } from '@hono/zod-openapi';
import { Hono } from 'hono';
import { tunables } from '../config';
import { LIMITS } from '../events/limits';
import { count } from '../monitor/feed';
import { ingestBatch } from '../sessions/dispatch';
import { sourceByPublicKey } from '../sources/lookup';
import { TRACKER_HASH, TRACKER_JS } from '../tracker/built';
import type { AppEnv } from './app-env';
import { keyedSource, publicSource } from './auth';
import { readJson } from './body';
import { isBot } from './bots';
import { ApiError, invalid } from './errors';
import { limitClient, limitSource } from './rate-limit';

/** The tracker's compact batch (src/tracker/core.ts, WireEvent): short keys, mapped to the event input here. */
const Beacon = z.object({
  k: z.string().min(1).max(64),
  // Each event is checked on its own (normalizeEvent): one that is not even an object rejects only itself.
  e: z.array(z.unknown()).min(1).max(LIMITS.batchEvents),
});

/** Browsers allow longer URLs than the event model keeps: the tracker's are cut, not refused. */
const cut = (url: unknown) => (typeof url === 'string' ? url.slice(0, 2048) : url);

/** The latest time a Date can hold (ms): `t` beyond it is no time at all. */
const MAX_TIME = 8.64e15;
// A time outside Date's range goes on as a number, which the event schema refuses by name.
const isoTime = (t: unknown) => (typeof t === 'number' && Math.abs(t) <= MAX_TIME ? new Date(t).toISOString() : t);

const fromWire = (e: Record<string, unknown>) => ({
  event_id: e.i,
  session_id: e.s,
  name: e.n,
  occurred_at: isoTime(e.t),
  seq: e.q,
  context: e.c,
  params: e.p,
  customer_id: e.cu,
  customer_hash: e.ch,
  page: typeof e.u === 'string' ? { url: cut(e.u), referrer: cut(e.r) } : undefined,
});

/** A beacon's event as the event input; an element that is not an object goes on as it is, for normalizeEvent to refuse. */
export const wireToInput = (e: unknown) => (typeof e === 'object' && e !== null && !Array.isArray(e) ? fromWire(e as Record<string, unknown>) : e);

const GEO_FIELDS = ['country', 'region', 'city', 'timezone'] as const;
export function geoOf(request: Request): Record<string, string> | null {
  const cf = request.cf;
  if (!cf) return null;
  const geo: Record<string, string> = {};
  for (const f of GEO_FIELDS) if (typeof cf[f] === 'string' && cf[f]) geo[f] = cf[f];
  return Object.keys(geo).length ? geo : null;
}

/** The script's paths: the configured one (default /t.js) and its versioned twin /t.<hash>.js. */
function scriptPaths(env: Env) {
  const path = tunables(env).trackerPath;
  return { path, versioned: path.replace(/\.js$/, `.${TRACKER_HASH}.js`), beacon: path.replace(/\.js$/, '') };
}

const isBeacon = (env: Env, p: string) => p === '/t' || p === scriptPaths(env).beacon;

const cors = (origin: string) => ({
  'access-control-allow-origin': origin,
  vary: 'Origin',
  'access-control-allow-methods': 'POST',
  'access-control-max-age': '86400',
});

/**
 * The browser channel: `GET /t.js` (the script) and `POST /t` (its beacons). Mounted last, on
 * every path, because both paths come from the TRACKER_PATH var.
 */
export const tracker = new Hono<AppEnv>();

tracker.get('*', async (c, next) => {
  const { path, versioned } = scriptPaths(c.env);
  const p = c.req.path;
  if (p !== path && p !== versioned && p !== '/t.js') return next();
  const headers = {
    'content-type': 'text/javascript; charset=utf-8',
    // The versioned URL never changes content; the plain one is re-checked hourly.
    'cache-control': p === versioned ? 'public, max-age=31536000, immutable' : 'public, max-age=3600',
    etag: `"${TRACKER_HASH}"`,
  };
  if (c.req.header('if-none-match')?.includes(headers.etag)) return c.body(null, 304, headers);
  return c.body(TRACKER_JS, 200, headers);
});

tracker.options('*', async (c, next) => {
  if (!isBeacon(c.env, c.req.path)) return next();
  // Preflight: the tracker's text/plain beacons need none, but a store's own application/json
  // fetch asks. The body (and its key) is not sent yet, so the key comes in the query
  // (`/t?k=PUBLIC_KEY`): CORS is granted to that source's allowed origins alone.
  const origin = c.req.header('origin');
  const key = c.req.query('k');
  const source = key ? await keyedSource(c.env, c.req.raw, () => sourceByPublicKey(c.env.DB, key)) : null;
  if (!origin || source?.kind !== 'website' || !source.active || !source.allowedOrigins.includes(origin)) {
    throw new ApiError(403, 'origin_not_allowed', `origin ${origin ?? '(none)'} is not allowed for key ${key ?? '(none: add ?k=PUBLIC_KEY)'}`);
  }
  return c.body(null, 204, { ...cors(origin), 'access-control-allow-headers': 'content-type' });
});

tracker.post('*', async (c, next) => {
  if (!isBeacon(c.env, c.req.path)) return next();
  await limitClient(c.env, c.req.raw);
  const origin = c.req.header('origin');
  const parsed = Beacon.safeParse(await readJson(c.req.raw));
  if (!parsed.success) throw invalid(parsed.error, 'invalid beacon');
  const source = await publicSource(c.env, c.req.raw, parsed.data.k, 'website', 'tracker');
  if (!origin || !source.allowedOrigins.includes(origin)) {
    // The commonest setup mistake: the console's health shows it.
    count(source.id, 'rejected:origin_not_allowed');
    throw new ApiError(403, 'origin_not_allowed', `origin ${origin ?? '(none)'} is not allowed for source ${source.id}`);
  }
  await limitSource(c.env, source.id, cors(origin));
  const userAgent = c.req.header('user-agent') ?? '';
  if (isBot(userAgent)) {
    // Counted where every isolate's count meets: one structured log line per drop (Workers Logs).
    count(source.id, 'bot');
    console.log(JSON.stringify({ message: 'bot dropped', source: source.id, user_agent: userAgent }));
    return c.body(null, 204, cors(origin));
  }
  const results = await ingestBatch(c.env, source, parsed.data.e.map(wireToInput), {
    channel: 'tracker',
    receivedAt: Date.now(),
    device: userAgent ? { user_agent: userAgent } : null,
    geo: geoOf(c.req.raw),
  });
  const rejected = results.flatMap((r, i) => (r.error ? r.error.details.map((d) => ({ path: `e.${i}.${d.path}`, message: d.message })) : []));
  if (rejected.length) {
    // The good events beside them are stored; the tracker drops a 4xx batch rather than retrying it.
    throw new ApiError(400, 'invalid_events', `${rejected.length} event(s) rejected, the others stored`, rejected, cors(origin));
  }
  return c.body(null, 204, cors(origin));
});
