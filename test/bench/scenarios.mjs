// The measured scenarios, one small entry each. A scenario says which worker it loads, how many
// events one request carries, which session pool it draws from (scenarios of one source share
// their sessions, so their objects), and how to build a request for a session
// (`request(ctx, session, ids, now)`); load.mjs calls it for every request, lag.mjs for the D1-lag
// markers. `available(root)` is false while the endpoint does not exist in src/ yet (the bench
// then reports it as not measured). `optional` scenarios run only when BENCH_ONLY names them.
// `vs`: the floor our scenario's CPU per event is compared with, round by round (floor 1 for one
// event per request, floor 1 at 100 per request for batches: the platform's batching ceiling).
import { existsSync } from 'node:fs';
import path from 'node:path';
import { sampleEvent, toWire } from './sample-event.mjs';

const eventsFor = (n, session, ids, now) => Array.from({ length: n }, (_, i) => sampleEvent(i, session, ids(), now));
const json = { 'content-type': 'application/json' };
const exists = (root, file) => existsSync(path.join(root, file));
const floorFor = (n) => (n === 1 ? 'floor1' : 'floor1x100');

/** REST: `POST /api/v1/web-events` with the partner source's secret key. */
const rest = (n) => ({
  worker: 'ours',
  events: n,
  vs: floorFor(n),
  source: 'server',
  pool: 'partner',
  available: (root) => exists(root, 'src/http/web-events.ts'),
  request: (ctx, session, ids, now) => ({
    method: 'POST',
    path: '/api/v1/web-events',
    headers: { ...json, authorization: `Bearer ${ctx.sources.server.secret_key}` },
    body: JSON.stringify({ events: eventsFor(n, session, ids, now) }),
  }),
});

/**
 * Tracker beacon: `POST /t`, a `text/plain` JSON batch (no preflight) from an allowed origin, in
 * the tracker's compact wire form (src/tracker/wire.ts, src/http/tracker.ts): `{k: public key,
 * e: [{i, s, n, t (ms), q, u, r, c, p}]}`, with a browser's user agent (bots are dropped unstored).
 */
const CHROME = 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.0.0 Safari/537.36';
const beacon = (n) => ({
  worker: 'ours',
  events: n,
  vs: floorFor(n),
  source: 'website',
  pool: 'web',
  available: (root) => exists(root, 'src/http/tracker.ts'),
  request: (ctx, session, ids, now) => ({
    method: 'POST',
    path: '/t',
    headers: { 'content-type': 'text/plain;charset=UTF-8', origin: ctx.origin, 'user-agent': CHROME },
    body: JSON.stringify({ k: ctx.sources.website.public_key, e: eventsFor(n, session, ids, now).map(toWire) }),
  }),
});

/** SDK: `POST /v1/sdk/events` with `X-Source-Key: <public key>` and `{device?, events}` (docs/design.md §3). */
const sdk = (n) => ({
  worker: 'ours',
  events: n,
  vs: floorFor(n),
  source: 'mobile_app',
  pool: 'app',
  available: (root) => exists(root, 'src/http/sdk.ts'),
  request: (ctx, session, ids, now) => ({
    method: 'POST',
    path: '/v1/sdk/events',
    headers: { ...json, 'x-source-key': ctx.sources.mobile_app.public_key },
    body: JSON.stringify({ device: { platform: 'ios', app_version: '3.2.1', os_version: '18.1' }, events: eventsFor(n, session, ids, now) }),
  }),
});

/** A reference worker: one event as the body, or `{events}` for a batch. */
const floor = (key, label, worker, n) => ({
  key,
  label,
  worker,
  events: n,
  pool: worker,
  floor: true,
  available: () => true,
  request: (_ctx, session, ids, now) => ({
    method: 'POST',
    path: '/',
    headers: json,
    body: JSON.stringify(n === 1 ? sampleEvent(0, session, ids(), now) : { events: eventsFor(n, session, ids, now) }),
  }),
});

export const SCENARIOS = [
  floor('floor0', 'floor 0: bare worker, 204', 'floor0', 1),
  floor('floor1', 'floor 1: worker → DO → 1 SQLite insert', 'floor1', 1),
  floor('floor1x100', 'floor 1, 100 events per request', 'floor1', 100),
  { key: 'beacon1', label: 'tracker beacon, 1 event', ...beacon(1) },
  { key: 'beacon20', label: 'tracker beacon, 20 events', ...beacon(20) },
  { key: 'rest100', label: 'REST batch, 100 events', ...rest(100) },
  { key: 'sdk20', label: 'SDK batch, 20 events', ...sdk(20) },
  { key: 'rest1', label: 'REST, 1 event', optional: true, ...rest(1) },
];

export const byKey = (key) => SCENARIOS.find((s) => s.key === key);
