import { createRoute, z } from '@hono/zod-openapi';
import { fromBase64url } from '../encoding';
import { monitorOf, REJECTIONS_DAYS, REJECTIONS_KEPT } from '../monitor/monitor-object';
import { listSources } from '../storage/sources';
import { sourceJson } from './admin';
import { newApp } from './app-env';
import { inScope, namedSource, scopedAuth, scopeOfKey } from './auth';
import { ApiError, errorResponses } from './errors';
import { json, SourceIdParam, secretKeyOrAdmin } from './openapi';

/**
 * What the console reads of a source (docs/console.md): its recent rejections, its health per
 * minute, and its live events over a WebSocket. A source's secret key reads its own source; the
 * admin token every source.
 */

const Rejection = z
  .object({
    id: z.number().int(),
    at: z.string(),
    channel: z.string(),
    code: z.string().openapi({ description: 'Why: invalid_event, unverified_identity, session_full, too_many_sessions, …' }),
    message: z.string(),
    paths: z.array(z.string()).openapi({ description: 'The fields refused' }),
    payload: z.string().openapi({ description: 'The event as sent (its JSON), cut to 4 KB' }),
  })
  .openapi('Rejection');

const rejectionsRoute = createRoute({
  method: 'get',
  path: '/{id}/rejections',
  summary: "A source's recent rejections",
  description: `The events the collector refused, newest first, with the reason, the fields and what was sent: kept ${REJECTIONS_DAYS} days, at most ${REJECTIONS_KEPT.toLocaleString('en')} per source. Page with \`before\` (the \`next\` of the previous page).`,
  security: secretKeyOrAdmin,
  request: {
    params: SourceIdParam,
    query: z.object({ limit: z.coerce.number().int().min(1).max(1000).default(100), before: z.coerce.number().int().positive().optional() }),
  },
  responses: {
    200: { description: 'A page of rejections', ...json(z.object({ rejections: z.array(Rejection), next: z.number().int().nullable() })) },
    ...errorResponses(400, 401, 403),
  },
});

const Health = z
  .object({
    range: z.enum(['hour', 'day']),
    last_event_at: z.string().nullable(),
    minutes: z.array(z.object({ minute: z.string(), kind: z.string(), n: z.number() })).openapi({
      description:
        'Per minute and kind: accepted, duplicate, rejected:<code>, bot, webhook_delivered, webhook_retried, webhook_dead_lettered, d1_writes, d1_lag_ms (the sum: divide by d1_writes), d1_write_failed, lake_write_failed',
    }),
  })
  .openapi('SourceHealth');

const healthRoute = createRoute({
  method: 'get',
  path: '/{id}/health',
  summary: "A source's health, per minute",
  description: 'Counts per minute over the last hour or day, and the last event seen. Counts reach the monitor within a few seconds.',
  security: secretKeyOrAdmin,
  request: { params: SourceIdParam, query: z.object({ range: z.enum(['hour', 'day']).default('hour') }) },
  responses: { 200: { description: 'Counts per minute', ...json(Health) }, ...errorResponses(400, 401, 403) },
});

export const monitor = newApp();

/**
 * The live events: a WebSocket. A browser cannot set a header on one, and a key never goes in a
 * URL, so the key comes as the subprotocol `bearer.<base64url of the key>` (beside `web-events`,
 * which the answer names).
 */
monitor.get('/:id/live', async (c) => {
  if (c.req.header('upgrade') !== 'websocket') throw new ApiError(426, 'upgrade_required', 'connect with a WebSocket');
  const offered = (c.req.header('sec-websocket-protocol') ?? '').split(',').map((p) => p.trim());
  const encoded = offered.find((p) => p.startsWith('bearer.'))?.slice('bearer.'.length);
  let key = '';
  try {
    key = encoded ? new TextDecoder().decode(fromBase64url(encoded)) : '';
  } catch {
    key = '';
  }
  if (!key) throw new ApiError(401, 'missing_key', 'offer the subprotocol bearer.<base64url of a secret key or the admin token>');
  inScope(await scopeOfKey(c.env, key, c.req.raw), c.req.param('id'));
  const answer = await monitorOf(c.env, c.req.param('id')).fetch(c.req.raw);
  return new Response(answer.body, { status: answer.status, webSocket: answer.webSocket, headers: { 'sec-websocket-protocol': 'web-events' } });
});

monitor.use('/:id/*', scopedAuth);
monitor.use('/', scopedAuth);

/** The sources a key sees: its own (a secret key), or every one (the admin token). The console's first read. */
monitor.get('/', async (c) => {
  const scope = c.get('scope');
  const sources = scope ? [await namedSource(c.env.DB, scope)] : await listSources(c.env.DB);
  return c.json({ sources: sources.map((s) => sourceJson(s)) }, 200);
});

monitor.openapi(rejectionsRoute, async (c) => {
  const { id } = c.req.valid('param');
  inScope(c.get('scope'), id);
  const { limit, before } = c.req.valid('query');
  const page = await monitorOf(c.env, id).rejections(limit, before);
  return c.json({ rejections: page.items, next: page.next }, 200);
});

monitor.openapi(healthRoute, async (c) => {
  const { id } = c.req.valid('param');
  inScope(c.get('scope'), id);
  const { range } = c.req.valid('query');
  const since = Date.now() - (range === 'hour' ? 3_600_000 : 86_400_000);
  return c.json({ range, ...(await monitorOf(c.env, id).health(since)) }, 200);
});
