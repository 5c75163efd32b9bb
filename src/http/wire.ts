import { type Context, Hono } from 'hono';
import { createMiddleware } from 'hono/factory';
import { LIMITS, nestsDeeper } from '../events/limits';
import type { Channel } from '../events/schema';
import { count, rejected } from '../monitor/feed';
import { isSecretKey } from '../sources/keys';
import { sourceByPublicKey, sourceBySecretKey } from '../sources/lookup';
import type { EventSource } from '../storage/sources';
import { ingestWire, type WireResult } from '../wire/ingest';
import { isObject, isRefusal, type Mapped, text } from '../wire/mapping';
import { fromPostHog } from '../wire/posthog';
import { fromSegment, SEGMENT_MESSAGE_BYTES, SHORT_TYPES } from '../wire/segment';
import { fromSnowplow } from '../wire/snowplow';
import type { AppEnv } from './app-env';
import { keyedSource, usableSource } from './auth';
import { gunzip, parse, readBytes, readText } from './body';
import { isBot } from './bots';
import { ApiError } from './errors';
import { limitClient, limitSource } from './rate-limit';
import { geoOf } from './tracker';

/**
 * Segment's, Snowplow's and PostHog's collection endpoints (docs/wire.md): a store moves to us by
 * changing the host its clients send to. Each maps its messages onto the one ingest path.
 */
export const wire = new Hono<AppEnv>();

// A browser reads a refusal only with CORS: the clients' error answers carry it too (what they
// refuse says nothing a page could not learn by sending).
const corsOnRefusal = createMiddleware<AppEnv>(async (c, next) => {
  await next();
  const origin = c.req.header('origin');
  if (origin && c.res.status >= 400 && !c.res.headers.has('access-control-allow-origin')) {
    c.res.headers.set('access-control-allow-origin', origin);
    c.res.headers.append('vary', 'Origin');
  }
});
/** PostHog's capture paths, with and without the trailing `/`. */
const POSTHOG_PATHS = ['/batch', '/e', '/i/v0/e', '/capture', '/track'].flatMap((p) => [p, `${p}/`]);
const SNOWPLOW_PATH = '/com.snowplowanalytics.snowplow/tp2';
for (const path of ['/v1/*', ...POSTHOG_PATHS, SNOWPLOW_PATH, '/i']) wire.use(path, corsOnRefusal);

/** Segment's limit per batch (its clients split below it). */
const SEGMENT_BATCH_BYTES = 500 * 1024;

/** Who sends: a secret key (a server: the partner channel), or a public key (a browser or an app: their channel). */
interface Sender {
  source: EventSource;
  channel: Channel;
  /** CORS for a browser's origin, when it is one of the source's. */
  cors: Record<string, string>;
}

/** A website source's allowed origin: credentialed (Snowplow's and posthog-js's XHR send cookies). */
const cors = (origin: string) => ({ 'access-control-allow-origin': origin, 'access-control-allow-credentials': 'true', vary: 'Origin' });

/**
 * The request headers a preflight allows: what the clients send (analytics.js: `Authorization`
 * with the write key, `X-Retry-Count` on a retry; posthog-js and Snowplow: `Content-Type`), never
 * whatever is asked.
 */
const ALLOWED_HEADERS = 'authorization, content-type, x-retry-count';

/**
 * The source a key names. A secret key is a server: no CORS. A public key: a website source's is
 * taken, when the request has an Origin, from its allowed origins only, and answered with CORS for
 * that origin. A mobile app source's is taken from apps, which send no Origin: a browser always
 * sends one, so an app key with an Origin is a page using it, refused as an origin not allowed. A
 * server source's public key sends nothing (its events come with the secret key).
 */
async function sender(c: Context<AppEnv>, key: string | undefined, protocol: string): Promise<Sender> {
  if (!key) throw new ApiError(401, 'missing_key', `send the source key as ${protocol} does (its write key, api key or app id)`);
  const secret = isSecretKey(key);
  const found = await keyedSource(c.env, c.req.raw, () => (secret ? sourceBySecretKey(c.env.DB, key) : sourceByPublicKey(c.env.DB, key)));
  if (secret) {
    const source = usableSource(found, 'secret key');
    await limitSource(c.env, source.id);
    return { source, channel: 'api', cors: {} };
  }
  const source = usableSource(found, 'key');
  if (source.kind === 'server') throw new ApiError(403, 'wrong_source_kind', `source ${source.id} is a server source: send its secret key`);
  const origin = c.req.header('origin');
  if (origin) refuseOrigin(source, origin);
  await limitClient(c.env, c.req.raw);
  await limitSource(c.env, source.id);
  return { source, channel: source.kind === 'website' ? 'tracker' : 'sdk', cors: origin ? cors(origin) : {} };
}

/** Refuses a public key's browser origin unless it is one of a website source's allowed origins. */
function refuseOrigin(source: EventSource, origin: string): void {
  if (source.kind === 'website' && source.allowedOrigins.includes(origin)) return;
  count(source.id, 'rejected:origin_not_allowed');
  throw new ApiError(
    403,
    'origin_not_allowed',
    source.kind === 'website'
      ? `origin ${origin} is not allowed for source ${source.id}`
      : `source ${source.id} is a ${source.kind} source: its public key is for apps, which send no Origin; a page sends with a website source's key`,
  );
}

/**
 * Each message mapped on its own: one nested too deep, or that cannot be read at all, is refused
 * alone. At most LIMITS.batchEvents a request, as on every channel.
 */
async function mapAll(messages: readonly unknown[], map: (message: unknown, index: number) => Promise<Mapped> | Mapped): Promise<Mapped[]> {
  if (messages.length > LIMITS.batchEvents)
    throw new ApiError(400, 'too_many_events', `at most ${LIMITS.batchEvents} messages a request: send the others in another request`);
  const messageId = (m: unknown) => (isObject(m) ? (text(m.messageId) ?? text(m.uuid) ?? text(m.eid) ?? null) : null);
  return Promise.all(
    messages.map(async (m, index): Promise<Mapped> => {
      if (nestsDeeper(m, LIMITS.bodyDepth))
        return { index, messageId: messageId(m), path: '(message)', message: `nests deeper than ${LIMITS.bodyDepth} levels` };
      try {
        return await map(m, index);
      } catch {
        return { index, messageId: messageId(m), path: '(message)', message: 'could not be read' };
      }
    }),
  );
}

/** Maps and stores the messages; one result per message. A known bot's browser traffic is dropped (and counted), as on the tracker. */
async function store(c: Context<AppEnv>, who: Sender, mapped: Mapped[], raws: readonly unknown[]): Promise<WireResult[]> {
  const userAgent = c.req.header('user-agent') ?? '';
  if (who.channel === 'tracker' && isBot(userAgent)) {
    count(who.source.id, 'bot');
    console.log(JSON.stringify({ message: 'bot dropped', source: who.source.id, user_agent: userAgent }));
    return [];
  }
  const results = await ingestWire(c.env, who.source, who.channel, mapped, {
    receivedAt: Date.now(),
    device: who.channel === 'api' || !userAgent ? null : { user_agent: userAgent },
    geo: who.channel === 'api' ? null : geoOf(c.req.raw),
  });
  // Refused while mapping (the ingest path shows its own refusals): the console shows them with the message as sent.
  for (const m of mapped) if (isRefusal(m)) rejected(who.source.id, who.channel, raws[m.index], results[m.index]!.error!);
  return results;
}

/**
 * Answers a preflight for any origin: the key is in the body, not sent yet, so the request itself
 * is checked against its source's origins (only an allowed one gets its answer's CORS).
 */
const preflight = (c: Context<AppEnv>) => {
  const origin = c.req.header('origin');
  if (!origin) return c.body(null, 204);
  return c.body(null, 204, {
    ...cors(origin),
    'access-control-allow-methods': 'GET, POST',
    'access-control-allow-headers': ALLOWED_HEADERS,
    'access-control-max-age': '86400',
  });
};

/** The body as JSON, whatever type it claims (analytics.js and posthog-js send text/plain). */
async function jsonBody(request: Request, limit: number): Promise<unknown> {
  try {
    return parse(await readText(request, limit));
  } catch (error) {
    // Segment's clients expect 400 for an oversize batch, not 413.
    if (error instanceof ApiError && error.status === 413) throw new ApiError(400, error.code, error.message);
    throw error;
  }
}

// ---- Segment: POST /v1/batch, /v1/{track,identify,page,screen,alias,group}, analytics.js's /v1/{t,p,s,i,a,g} ----

/** The write key: HTTP Basic's user name, or `writeKey` in the body. */
function writeKey(c: Context<AppEnv>, body: unknown): string | undefined {
  const basic = c.req.header('authorization')?.match(/^Basic\s+(\S+)$/i)?.[1];
  if (basic) {
    try {
      return atob(basic).split(':')[0] || undefined;
    } catch {
      throw new ApiError(401, 'invalid_key', 'the Basic credentials are not base64');
    }
  }
  return isObject(body) ? text(body.writeKey) : undefined;
}

/** Segment's answer: 200 with our per-message results beside what its clients read (nothing but the status). */
async function segment(c: Context<AppEnv>, messages: unknown[], body: Record<string, unknown>) {
  const who = await sender(c, writeKey(c, body), 'Segment');
  const receivedAt = Date.now();
  const mapped = await mapAll(messages, (m, i) =>
    JSON.stringify(m ?? null).length > SEGMENT_MESSAGE_BYTES
      ? { index: i, messageId: isObject(m) ? (text(m.messageId) ?? null) : null, path: '(message)', message: `larger than ${SEGMENT_MESSAGE_BYTES} bytes` }
      : fromSegment(isObject(m) && isObject(body.context) ? { ...m, context: { ...body.context, ...(isObject(m.context) ? m.context : {}) } } : m, i, {
          sentAt: body.sentAt,
          receivedAt,
        }),
  );
  const results = await store(c, who, mapped, messages);
  return c.json({ success: true, results }, 200, who.cors);
}

wire.options('/v1/*', preflight);
// analytics.js's batching delivery posts to /v1/b.
wire.post('/v1/:batch{batch|b}', async (c) => {
  const body = await jsonBody(c.req.raw, SEGMENT_BATCH_BYTES);
  if (!isObject(body) || !Array.isArray(body.batch)) throw new ApiError(400, 'invalid_batch', 'batch: required, an array of messages');
  return segment(c, body.batch, body);
});
wire.post('/v1/:type{track|identify|page|screen|alias|group|t|p|s|i|a|g}', async (c) => {
  const body = await jsonBody(c.req.raw, SEGMENT_MESSAGE_BYTES);
  if (!isObject(body)) throw new ApiError(400, 'invalid_message', 'the body must be one message, a JSON object');
  const type = c.req.param('type');
  return segment(c, [{ ...body, type: body.type ?? SHORT_TYPES[type] ?? type }], body);
});

/**
 * The settings analytics.js loads from its CDN (`cdnURL`) before it sends: its events come back
 * here. Only for a website or mobile source's public key.
 */
wire.get('/v1/projects/:writeKey/settings', async (c) => {
  const source = await keyedSource(c.env, c.req.raw, () => sourceByPublicKey(c.env.DB, c.req.param('writeKey')));
  if (!source?.active || source.kind === 'server') throw new ApiError(404, 'not_found', 'no website or mobile source has this write key');
  const url = new URL(c.req.url);
  return c.json(
    {
      integrations: {
        'Segment.io': { apiKey: c.req.param('writeKey'), apiHost: `${url.host}/v1`, protocol: url.protocol.replace(':', ''), unbundledIntegrations: [] },
      },
      plan: { track: { __default: { enabled: true, integrations: {} } }, identify: { __default: { enabled: true } }, group: { __default: { enabled: true } } },
      edgeFunction: {},
      analyticsNextEnabled: true,
      middlewareSettings: {},
      enabledMiddleware: {},
      metrics: { sampleRate: 0 },
      legacyVideoPluginsEnabled: false,
      remotePlugins: [],
    },
    200,
    { 'access-control-allow-origin': '*', 'cache-control': 'public, max-age=300' },
  );
});

// ---- PostHog: POST /batch, /e, /i/v0/e, /capture (JSON, text/plain, form data=, gzip) and the routes posthog-js polls ----

/** A PostHog body, however it came: gzip (`?compression=gzip-js` or the header), a form's `data=` (base64 or JSON), or JSON. */
async function postHogBody(c: Context<AppEnv>): Promise<unknown> {
  const compression = c.req.query('compression');
  let raw: string;
  if (compression === 'gzip-js' || compression === 'gzip') raw = await gunzip(await readBytes(c.req.raw));
  else raw = await readText(c.req.raw);
  if ((c.req.header('content-type') ?? '').includes('application/x-www-form-urlencoded') || raw.startsWith('data=')) {
    const data = new URLSearchParams(raw).get('data') ?? '';
    raw = data.trimStart().startsWith('{') || data.trimStart().startsWith('[') ? data : decodeBase64(data);
  } else if (compression === 'base64') raw = decodeBase64(raw);
  return parse(raw);
}

function decodeBase64(data: string): string {
  try {
    return new TextDecoder().decode(Uint8Array.from(atob(data.replace(/-/g, '+').replace(/_/g, '/')), (ch) => ch.charCodeAt(0)));
  } catch {
    throw new ApiError(400, 'invalid_body', 'data: not base64 or JSON');
  }
}

for (const path of POSTHOG_PATHS) {
  wire.options(path, preflight);
  wire.post(path, async (c) => {
    const body = await postHogBody(c);
    const events = Array.isArray(body)
      ? body
      : isObject(body) && Array.isArray(body.batch)
        ? body.batch
        : isObject(body) && Array.isArray(body.data)
          ? body.data
          : [body];
    const first = events.find(isObject);
    const key =
      (isObject(body) ? (text(body.api_key) ?? text(body.token)) : undefined) ??
      (first ? (text(first.api_key) ?? text(first.token) ?? (isObject(first.properties) ? text(first.properties.token) : undefined)) : undefined);
    const who = await sender(c, key, 'PostHog');
    const receivedAt = Date.now();
    const sentAt = isObject(body) ? body.sent_at : undefined;
    const results = await store(c, who, await mapAll(events, (e, i) => fromPostHog(e, i, { sentAt, receivedAt })), events);
    return c.json({ status: 'Ok', results }, 200, who.cors);
  });
}

// Feature flags and remote config: none here, answered so posthog-js keeps sending.
const NO_FLAGS = {
  featureFlags: {},
  featureFlagPayloads: {},
  flags: {},
  errorsWhileComputingFlags: false,
  quotaLimited: [],
  sessionRecording: false,
  supportedCompression: ['gzip', 'gzip-js'],
};
for (const path of ['/flags', '/flags/', '/decide', '/decide/']) {
  wire.options(path, preflight);
  wire.post(path, (c) => c.json(NO_FLAGS, 200, c.req.header('origin') ? cors(c.req.header('origin')!) : {}));
}
wire.get('/array/:token/config', (c) =>
  c.json(
    {
      token: c.req.param('token'),
      supportedCompression: ['gzip', 'gzip-js'],
      hasFeatureFlags: false,
      sessionRecording: false,
      surveys: false,
      heatmaps: false,
    },
    200,
    { 'access-control-allow-origin': '*' },
  ),
);
wire.get('/array/:token/config.js', (c) => c.body('', 200, { 'content-type': 'text/javascript', 'access-control-allow-origin': '*' }));

// ---- Snowplow: POST /com.snowplowanalytics.snowplow/tp2 (payload_data) and GET /i (the pixel) ----

/** Stores Snowplow payloads, all sent with one `aid` (the source's key). */
async function snowplow(c: Context<AppEnv>, payloads: unknown[]) {
  const first = payloads.find(isObject);
  const key = first ? text(first.aid) : undefined;
  const who = await sender(c, key, 'Snowplow (aid)');
  const receivedAt = Date.now();
  const mapped = await mapAll(payloads, (p, i) =>
    isObject(p) && text(p.aid) !== key
      ? { index: i, messageId: text(p.eid) ?? null, path: 'aid', message: 'one request sends for one source: this aid differs from the first' }
      : fromSnowplow(p, i, receivedAt),
  );
  return { who, results: await store(c, who, mapped, payloads) };
}

wire.options(SNOWPLOW_PATH, preflight);
wire.post(SNOWPLOW_PATH, async (c) => {
  const body = await jsonBody(c.req.raw, 1024 * 1024);
  if (!isObject(body) || !Array.isArray(body.data)) throw new ApiError(400, 'invalid_payload', 'data: required, the payload_data array of events');
  const { who, results } = await snowplow(c, body.data);
  return c.json({ results }, 200, who.cors);
});

/** A transparent 1×1 GIF: what the pixel answers. */
const PIXEL = Uint8Array.from(atob('R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7'), (ch) => ch.charCodeAt(0));
wire.get('/i', async (c) => {
  const payload = Object.fromEntries(new URL(c.req.url).searchParams);
  const { results } = await snowplow(c, [payload]);
  const rejected = results.find((r) => r.status === 'rejected');
  // A pixel cannot show a body: a refusal is a 400 with the reason in a header.
  return c.body(PIXEL, rejected ? 400 : 200, {
    'content-type': 'image/gif',
    'cache-control': 'no-store',
    ...(rejected ? { 'x-refused': rejected.error?.message ?? '' } : {}),
  });
});
