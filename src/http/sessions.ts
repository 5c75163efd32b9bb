import { createRoute, z } from '@hono/zod-openapi';
import { CustomerId, Identifier, WebEvent } from '../events/schema';
import { type OrderCursor, SessionRecord } from '../events/session-record';
import { forgetInMonitors } from '../monitor/monitor-object';
import { sessionObject } from '../sessions/dispatch';
import { eraseCustomer } from '../sessions/erase';
import { customerSessions, sessionFromD1 } from '../storage/records';
import { forgetCustomerVisitors } from '../wire/visitors';
import { newApp } from './app-env';
import { inScope, scopedAuth } from './auth';
import { guardJson } from './body';
import { decodeCursor, encodeCursor } from './cursor';
import { ApiError, errorResponses } from './errors';
import { json, PageQuery, SourceId, secretKeyOrAdmin } from './openapi';

const SessionView = z
  .object({
    session: SessionRecord,
    events: z.array(WebEvent),
    next_cursor: z.string().nullable().openapi({ description: 'The next page of events, null after the last' }),
  })
  .openapi('SessionWithEvents');

const sessionRoute = createRoute({
  method: 'get',
  path: '/{source_id}/{session_id}',
  summary: 'Read a session live',
  description:
    'The session record with its events in session order (occurred_at, seq, arrival), read from the session object: it includes events that D1 does not have yet. An identified session whose object is gone (60 days after its last event) is read from D1, with the events D1 keeps (D1_EVENT_DAYS). Up to `limit` events per page (default and most 1,000); `next_cursor` gives the next.',
  security: secretKeyOrAdmin,
  request: { params: z.object({ source_id: Identifier, session_id: Identifier }), query: PageQuery(1000) },
  responses: { 200: { description: 'The session', ...json(SessionView) }, ...errorResponses(400, 401, 403, 404) },
});

const customerRoute = createRoute({
  method: 'get',
  path: '/{customer_id}/sessions',
  summary: "A customer's sessions",
  description: "The key's source's sessions linked to this customer (verified links only), most recent first, as written to D1.",
  security: secretKeyOrAdmin,
  request: {
    params: z.object({ customer_id: CustomerId }),
    query: PageQuery(100).extend({ source_id: SourceId.optional().openapi({ description: 'With the admin token: the source (a secret key reads its own)' }) }),
  },
  responses: {
    200: {
      description: 'A page of sessions',
      content: { 'application/json': { schema: z.object({ sessions: z.array(SessionRecord), next_cursor: z.string().nullable() }) } },
    },
    ...errorResponses(400, 401, 403),
  },
});

const ErasureReport = z
  .object({
    customer_id: z.string(),
    sessions: z.number().int(),
    events: z.number().int(),
    segment_memberships: z.number().int(),
    dead_letters: z.number().int(),
    link_landings: z.number().int(),
    console_items: z
      .number()
      .int()
      .openapi({ description: "Refused events and live items in the console's monitors that named the customer or belonged to their sessions" }),
    complete: z.boolean().openapi({ description: 'False when the customer has more sessions than one call erases: call again' }),
  })
  .openapi('ErasureReport');

const eraseRoute = createRoute({
  method: 'delete',
  path: '/{customer_id}',
  summary: 'Erase a customer',
  description:
    "Deletes every session that names the customer (verified or as an unverified claim) with all its events, in the session objects and in D1, the customer's events in other sessions, segment memberships, trigger dead letters and link landings. A source's secret key erases on its source; the admin token on every source. Idempotent: a repeat answers zeros.",
  security: secretKeyOrAdmin,
  request: { params: z.object({ customer_id: CustomerId }) },
  responses: { 200: { description: 'What was erased', ...json(ErasureReport) }, ...errorResponses(400, 401, 403) },
});

export const sessions = newApp();
sessions.use(scopedAuth);

sessions.openapi(sessionRoute, async (c) => {
  const { source_id, session_id } = c.req.valid('param');
  const { limit, cursor } = c.req.valid('query');
  inScope(c.get('scope'), source_id);
  const after = decodeCursor<OrderCursor>(cursor, 3);
  // The object holds the session while it lives; after (an identified session past its object's days), D1 does.
  const page = (await sessionObject(c.env, source_id, session_id).read(after, limit)) ?? (await sessionFromD1(c.env, source_id, session_id, after, limit));
  if (!page) throw new ApiError(404, 'session_not_found', `no session ${session_id} in source ${source_id}`);
  return c.json({ session: page.session, events: page.events, next_cursor: encodeCursor(page.next) }, 200);
});

/**
 * The same two, with the customer id in the body: a URL is kept by request logs (docs/privacy.md),
 * a body is not.
 */
const CustomerQuery = z
  .object({
    customer_id: CustomerId,
    source_id: SourceId.optional().openapi({ description: 'With the admin token: the source (a secret key reads its own)' }),
    limit: z.number().int().min(1).max(1000).default(100),
    cursor: z.string().max(512).optional().openapi({ description: 'next_cursor of the previous page' }),
  })
  .openapi('CustomerSessionsQuery');
const customerQueryRoute = createRoute({
  method: 'post',
  path: '/sessions',
  summary: "A customer's sessions (the id in the body)",
  description: `${customerRoute.description} As \`GET /customers/{customer_id}/sessions\`, with the customer id in the body, out of request logs.`,
  security: secretKeyOrAdmin,
  request: { body: { required: true, ...json(CustomerQuery) } },
  responses: customerRoute.responses,
});
const eraseBodyRoute = createRoute({
  method: 'post',
  path: '/erase',
  summary: 'Erase a customer (the id in the body)',
  description: `${eraseRoute.description} As \`DELETE /customers/{customer_id}\`, with the customer id in the body, out of request logs.`,
  security: secretKeyOrAdmin,
  request: { body: { required: true, ...json(z.object({ customer_id: CustomerId }).openapi('EraseCustomer')) } },
  responses: eraseRoute.responses,
});

export const customers = newApp();
customers.use('/:customer_id/sessions', scopedAuth);
customers.use('/:customer_id', scopedAuth);
customers.use('/sessions', guardJson);
customers.use('/erase', guardJson);

/** A page of the customer's sessions on the key's source (the admin token names one). */
async function sessionsOf(env: Env, scope: string | null, customerId: string, sourceId: string | undefined, limit: number, cursor: string | undefined) {
  const source = scope ?? sourceId;
  if (!source)
    throw new ApiError(400, 'invalid_query', 'source_id: required with the admin token', [{ path: 'source_id', message: 'required with the admin token' }]);
  inScope(scope, source);
  const page = await customerSessions(env, source, customerId, limit, decodeCursor<[string, string]>(cursor, 2));
  return { sessions: page.sessions, next_cursor: encodeCursor(page.next) };
}

customers.openapi(customerRoute, async (c) => {
  const { limit, cursor, source_id } = c.req.valid('query');
  return c.json(await sessionsOf(c.env, c.get('scope'), c.req.valid('param').customer_id, source_id, limit, cursor), 200);
});
customers.openapi(customerQueryRoute, async (c) => {
  const { customer_id, source_id, limit, cursor } = c.req.valid('json');
  return c.json(await sessionsOf(c.env, c.get('scope'), customer_id, source_id, limit, cursor), 200);
});

/** The whole erasure: sessions, D1, the monitors, the wire visitors (docs/privacy.md). */
async function erase(env: Env, customerId: string, scope: string | null) {
  const { report, sessions, sourceIds } = await eraseCustomer(env, customerId, scope);
  // What the console's monitors keep that names them or their sessions (refused events as sent, live items).
  report.console_items = await forgetInMonitors(env, customerId, sessions, sourceIds);
  // What the collector kept of the customer's visitors (docs/wire.md), once every session is gone.
  if (report.complete) await forgetCustomerVisitors(env, customerId, sourceIds);
  return report;
}

customers.openapi(eraseRoute, async (c) => c.json(await erase(c.env, c.req.valid('param').customer_id, c.get('scope')), 200));
customers.openapi(eraseBodyRoute, async (c) => c.json(await erase(c.env, c.req.valid('json').customer_id, c.get('scope')), 200));
