import { createRoute, z } from '@hono/zod-openapi';
import { tunables } from '../config';
import { compileSegment } from '../segments/compile';
import { beyondWindow, SegmentDefinition, type SegmentNode } from '../segments/definition';
import { recompute } from '../segments/refresh';
import { deleteSegment, getSegment, insertSegment, listSegments, previewSegment, type Segment } from '../storage/segments';
import { newApp } from './app-env';
import { scopedAuth } from './auth';
import { guardJson } from './body';
import { ApiError, errorResponses, orNotFound } from './errors';
import { json, PageQuery, secretKeyOrAdmin } from './openapi';
import { exportMembers, membersPage } from './segment-export';

const SegmentJson = z
  .object({
    id: z.string(),
    source_id: z.string().nullable(),
    name: z.string(),
    definition: SegmentDefinition,
    member_count: z.number().int().nullable(),
    computed_at: z.string().nullable(),
    created_at: z.string(),
  })
  .openapi('Segment');

const security = secretKeyOrAdmin;
const IdParam = z.object({ id: z.string().regex(/^seg_[A-Za-z0-9_-]{1,64}$/, 'not a segment id') });
const PAGE = 100;

const routes = {
  preview: createRoute({
    method: 'post',
    path: '/preview',
    summary: 'Count a segment definition without saving it',
    security,
    request: { body: { required: true, ...json(z.object({ definition: SegmentDefinition })) } },
    responses: {
      200: { description: `The count and the first ${PAGE} customer ids`, ...json(z.object({ count: z.number().int(), customer_ids: z.array(z.string()) })) },
      ...errorResponses(400, 401, 403),
    },
  }),
  create: createRoute({
    method: 'post',
    path: '/',
    summary: 'Save a segment (computed at once)',
    security,
    request: { body: { required: true, ...json(z.object({ name: z.string().min(1).max(200), definition: SegmentDefinition })) } },
    responses: { 201: { description: 'The segment', ...json(SegmentJson) }, ...errorResponses(400, 401, 403) },
  }),
  list: createRoute({
    method: 'get',
    path: '/',
    summary: 'List segments',
    security,
    responses: { 200: { description: 'Segments in the scope of the key', ...json(z.object({ segments: z.array(SegmentJson) })) }, ...errorResponses(401) },
  }),
  get: createRoute({
    method: 'get',
    path: '/{id}',
    summary: 'Read a segment',
    security,
    request: { params: IdParam },
    responses: { 200: { description: 'The segment', ...json(SegmentJson) }, ...errorResponses(401, 404) },
  }),
  remove: createRoute({
    method: 'delete',
    path: '/{id}',
    summary: 'Delete a segment',
    security,
    request: { params: IdParam },
    responses: { 204: { description: 'Deleted' }, ...errorResponses(401, 404) },
  }),
  refresh: createRoute({
    method: 'post',
    path: '/{id}/refresh',
    summary: 'Recompute a segment now',
    security,
    request: { params: IdParam },
    responses: { 200: { description: 'The recomputed segment', ...json(SegmentJson) }, ...errorResponses(401, 404) },
  }),
  customers: createRoute({
    method: 'get',
    path: '/{id}/customers',
    summary: "A page of a segment's customers",
    security,
    request: { params: IdParam, query: PageQuery(PAGE) },
    responses: {
      200: { description: 'Customer ids in ascending order', ...json(z.object({ customer_ids: z.array(z.string()), next_cursor: z.string().nullable() })) },
      ...errorResponses(400, 401, 404),
    },
  }),
  export: createRoute({
    method: 'get',
    path: '/{id}/export',
    summary: 'Stream every member (NDJSON or CSV)',
    security,
    request: { params: IdParam, query: z.object({ format: z.enum(['ndjson', 'csv']).default('ndjson') }) },
    responses: {
      200: {
        description: 'One customer per line, ascending customer_id',
        content: { 'application/x-ndjson': { schema: z.string() }, 'text/csv': { schema: z.string() } },
      },
      ...errorResponses(400, 401, 404),
    },
  }),
};

export const segments = newApp();
segments.use(scopedAuth, guardJson);

const found = async (db: D1Database, id: string, scope: string | null) => orNotFound(await getSegment(db, id, scope), 'segment_not_found', `no segment ${id}`);

const asJson = (s: Segment) => ({ ...s, definition: SegmentDefinition.parse(s.definition) });

/** A definition that looks back further than D1 keeps events would miss customers silently: refused by field. */
function withinWindow(env: Env, definition: SegmentNode, now: number): SegmentNode {
  const days = tunables(env).d1EventDays;
  const beyond = days === null ? [] : beyondWindow(definition, days, now);
  if (beyond.length) throw new ApiError(400, 'invalid_request', `${beyond[0]!.path}: ${beyond[0]!.message}`, beyond);
  return definition;
}

segments.openapi(routes.preview, async (c) => {
  const now = Date.now();
  const compiled = compileSegment(withinWindow(c.env, c.req.valid('json').definition, now), c.get('scope'), now);
  return c.json(await previewSegment(c.env, compiled, PAGE), 200);
});

segments.openapi(routes.create, async (c) => {
  const body = c.req.valid('json');
  const segment: Segment = {
    id: `seg_${crypto.randomUUID().replace(/-/g, '')}`,
    source_id: c.get('scope'),
    name: body.name,
    definition: withinWindow(c.env, body.definition, Date.now()),
    member_count: null,
    computed_at: null,
    created_at: new Date().toISOString(),
  };
  await insertSegment(c.env.DB, segment);
  return c.json(asJson(await recompute(c.env, segment)), 201);
});

segments.openapi(routes.list, async (c) => c.json({ segments: (await listSegments(c.env.DB, c.get('scope'))).map(asJson) }, 200));

segments.openapi(routes.get, async (c) => c.json(asJson(await found(c.env.DB, c.req.valid('param').id, c.get('scope'))), 200));

segments.openapi(routes.remove, async (c) => {
  const segment = await found(c.env.DB, c.req.valid('param').id, c.get('scope'));
  await deleteSegment(c.env.DB, segment.id);
  return c.body(null, 204);
});

segments.openapi(routes.refresh, async (c) => {
  const segment = await found(c.env.DB, c.req.valid('param').id, c.get('scope'));
  return c.json(asJson(await recompute(c.env, segment)), 200);
});

segments.openapi(routes.customers, async (c) => {
  const segment = await found(c.env.DB, c.req.valid('param').id, c.get('scope'));
  const { limit, cursor } = c.req.valid('query');
  return c.json(await membersPage(c.env.DB, segment.id, limit, cursor), 200);
});

segments.openapi(routes.export, async (c) => {
  const segment = await found(c.env.DB, c.req.valid('param').id, c.get('scope'));
  return exportMembers(c.env.DB, segment, c.req.valid('query').format);
});
