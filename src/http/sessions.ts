import { createRoute, z } from '@hono/zod-openapi';
import { CustomerId, Identifier, WebEvent } from '../events/schema';
import { sessionObjectName } from '../sessions/dispatch';
import { SessionRecord } from '../sessions/record';
import { customerSessions } from '../storage/records';
import { newApp } from './app-env';
import { ownSource, secretKeyAuth } from './auth';
import { decodeCursor, encodeCursor } from './cursor';
import { ApiError, errorResponses } from './errors';

const SessionView = z.object({ session: SessionRecord, events: z.array(WebEvent) }).openapi('SessionWithEvents');

const sessionRoute = createRoute({
  method: 'get',
  path: '/{source_id}/{session_id}',
  summary: 'Read a session live',
  description: 'The session record with its events in session order (occurred_at, seq, arrival), read from the session object: it includes events that D1 does not have yet.',
  security: [{ sourceSecretKey: [] }],
  request: { params: z.object({ source_id: Identifier, session_id: Identifier }) },
  responses: { 200: { description: 'The session', content: { 'application/json': { schema: SessionView } } }, ...errorResponses(400, 401, 403, 404) },
});

const customerRoute = createRoute({
  method: 'get',
  path: '/{customer_id}/sessions',
  summary: "A customer's sessions",
  description: "The key's source's sessions linked to this customer, most recent first, as written to D1.",
  security: [{ sourceSecretKey: [] }],
  request: {
    params: z.object({ customer_id: CustomerId }),
    query: z.object({ limit: z.coerce.number().int().min(1).max(1000).default(100), cursor: z.string().optional() }),
  },
  responses: {
    200: { description: 'A page of sessions', content: { 'application/json': { schema: z.object({ sessions: z.array(SessionRecord), next_cursor: z.string().nullable() }) } } },
    ...errorResponses(400, 401, 403),
  },
});

export const sessions = newApp();
sessions.use(secretKeyAuth);

sessions.openapi(sessionRoute, async (c) => {
  const { source_id, session_id } = c.req.valid('param');
  ownSource(c.get('source'), source_id);
  const view = await c.env.SESSIONS.getByName(sessionObjectName(source_id, session_id)).read();
  if (!view) throw new ApiError(404, 'session_not_found', `no session ${session_id} in source ${source_id}`);
  return c.json(view, 200);
});

export const customers = newApp();
customers.use(secretKeyAuth);

customers.openapi(customerRoute, async (c) => {
  const { customer_id } = c.req.valid('param');
  const { limit, cursor } = c.req.valid('query');
  const page = await customerSessions(c.env.DB, c.get('source').id, customer_id, limit, decodeCursor<[string, string]>(cursor, 2));
  return c.json({ sessions: page.sessions, next_cursor: encodeCursor(page.next) }, 200);
});
