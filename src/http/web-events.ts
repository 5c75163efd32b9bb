import { createRoute, z } from '@hono/zod-openapi';
import { LIMITS } from '../events/limits';
import { EventInput, EventName, Identifier, Timestamp, WebEvent } from '../events/schema';
import type { OrderCursor } from '../events/session-record';
import { ingestBatch, sessionObject } from '../sessions/dispatch';
import { type Cursor, filterWebEvents, listWebEvents, type WebEventFilter } from '../storage/records';
import { newApp } from './app-env';
import { secretKeyAuth } from './auth';
import { readJson } from './body';
import { decodeCursor, encodeCursor } from './cursor';
import { errorResponses, invalid } from './errors';
import { BatchEnvelope, BatchResults, json, PageQuery } from './openapi';
import { limitSource } from './rate-limit';

/** The envelope is checked as a whole; each event is validated on its own, so one bad event rejects only itself. */

const postRoute = createRoute({
  method: 'post',
  path: '/',
  summary: 'Send a batch of web events',
  description: `Up to ${LIMITS.batchEvents} events and 1 MB. One result per event, in input order: \`accepted\`, \`duplicate\` (same event_id seen before) or \`rejected\` with the field and the reason. Good events are stored even when others in the batch are rejected.`,
  security: [{ sourceSecretKey: [] }],
  request: { body: { required: true, content: { 'application/json': { schema: z.object({ events: z.array(EventInput).max(LIMITS.batchEvents) }) } } } },
  responses: {
    200: { description: 'Per-event results', ...json(BatchResults) },
    ...errorResponses(400, 401, 403, 413, 429),
  },
});

const ListQuery = z
  .object({
    session_id: Identifier.optional(),
    customer_id: z.string().min(1).max(128).optional(),
    name: EventName.optional(),
    from: Timestamp.optional().openapi({ description: 'occurred_at at or after' }),
    to: Timestamp.optional().openapi({ description: 'occurred_at before' }),
  })
  .extend(PageQuery(100).shape);

const listRoute = createRoute({
  method: 'get',
  path: '/',
  summary: 'List stored web events',
  description:
    "Events in occurred_at order, filtered, with cursor pagination. With `session_id`: every event of that session, read live from its session object. Without: identified sessions' events as written to D1 (within seconds of their arrival, for D1_EVENT_DAYS); an anonymous session's events are read by its session_id, or in the lake.",
  security: [{ sourceSecretKey: [] }],
  request: { query: ListQuery },
  responses: {
    200: {
      description: 'A page of events',
      content: { 'application/json': { schema: z.object({ events: z.array(WebEvent), next_cursor: z.string().nullable() }) } },
    },
    ...errorResponses(400, 401, 403),
  },
});

const iso = (t: string | undefined) => (t ? new Date(t).toISOString() : undefined);

export const webEvents = newApp();
webEvents.use(secretKeyAuth);

webEvents.openAPIRegistry.registerPath(postRoute);
webEvents.post('/', async (c) => {
  await limitSource(c.env, c.get('source').id);
  const batch = BatchEnvelope.safeParse(await readJson(c.req.raw));
  if (!batch.success) throw invalid(batch.error, 'invalid batch');
  // The partner's server is not the customer's device: an API event's device is what it says.
  const results = await ingestBatch(c.env, c.get('source'), batch.data.events, { channel: 'api', receivedAt: Date.now() });
  return c.json({ results }, 200);
});

webEvents.openapi(listRoute, async (c) => {
  const q = c.req.valid('query');
  const sourceId = c.get('source').id;
  const filter: WebEventFilter = {
    sessionId: q.session_id,
    customerId: q.customer_id,
    name: q.name,
    from: iso(q.from),
    to: iso(q.to),
    after: decodeCursor<Cursor>(q.cursor, 3),
    limit: q.limit,
  };
  // One session: read from its object, which holds every event of it (D1 only an identified session's).
  const page = (q.session_id && (await sessionPage(c.env, sourceId, q.session_id, filter))) || (await listWebEvents(c.env, sourceId, filter));
  return c.json({ events: page.events, next_cursor: encodeCursor(page.next) }, 200);
});

/** Events read from a session object per call. */
const READ_PAGE = 1000;

/** One page of a session's events from its object, or null when it holds none. */
async function sessionPage(env: Env, sourceId: string, sessionId: string, f: WebEventFilter) {
  const session = sessionObject(env, sourceId, sessionId);
  let kept: WebEvent[] = [];
  let after: OrderCursor | undefined;
  do {
    const page = await session.read(after, READ_PAGE);
    if (!page) return null;
    kept = filterWebEvents([...kept, ...page.events], { ...f, limit: f.limit + 1 }).events;
    after = page.next ?? undefined;
    // The object reads in occurred_at order: once more than a page is kept, and this read went past
    // the last of them, no later read holds an event that comes before it.
    const last = page.events.at(-1);
    if (kept.length > f.limit && last && last.occurred_at > kept.at(-1)!.occurred_at) break;
  } while (after);
  return filterWebEvents(kept, f);
}
