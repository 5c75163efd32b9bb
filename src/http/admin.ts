import { createRoute, z } from '@hono/zod-openapi';
import { tunables } from '../config';
import { hashSecret, newPublicKey, newSecretKey } from '../sources/keys';
import { forgetSource } from '../sources/lookup';
import { getSource, insertSource, listSources, SOURCE_KINDS, updateSource, type EventSource } from '../storage/sources';
import { newApp } from './app-env';
import { adminAuth } from './auth';
import { ApiError, errorResponses } from './errors';

/** An origin as browsers send it: scheme, host and port, nothing else. */
const Origin = z
  .string()
  .refine((o) => URL.canParse(o) && new URL(o).origin === o.replace(/\/$/, ''), 'must be an origin such as https://shop.example')
  .transform((o) => new URL(o).origin);

const SourceId = z.string().regex(/^[A-Za-z0-9._-]{1,64}$/, 'must be 1-64 characters of A-Z a-z 0-9 . _ -');
const SessionTimeout = z.number().int().min(60).max(86_400).openapi({ description: 'Inactivity before a session closes, in seconds' });

const CreateSource = z
  .object({
    id: SourceId.openapi({ description: 'The source code, `source_id` on its events', example: 'shop-eu' }),
    name: z.string().min(1).max(200),
    kind: z.enum(SOURCE_KINDS),
    allowed_origins: z.array(Origin).max(100).default([]).openapi({ description: 'Origins allowed to send tracker beacons', example: ['https://shop.example'] }),
    session_timeout_s: SessionTimeout.optional(),
  })
  .openapi('CreateSource');

const UpdateSource = z
  .object({ name: z.string().min(1).max(200), allowed_origins: z.array(Origin).max(100), session_timeout_s: SessionTimeout, active: z.boolean() })
  .partial()
  .openapi('UpdateSource');

const SourceJson = z
  .object({
    id: z.string(),
    name: z.string(),
    kind: z.enum(SOURCE_KINDS),
    allowed_origins: z.array(z.string()),
    public_key: z.string(),
    session_timeout_s: z.number().int(),
    active: z.boolean(),
    created_at: z.string(),
    updated_at: z.string(),
    secret_key: z.string().optional().openapi({ description: 'Only in the answers to create and rotate-keys: D1 keeps its hash' }),
  })
  .openapi('EventSource');

const toJson = (s: EventSource, secretKey?: string): z.infer<typeof SourceJson> => ({
  id: s.id,
  name: s.name,
  kind: s.kind,
  allowed_origins: s.allowedOrigins,
  public_key: s.publicKey,
  session_timeout_s: s.sessionTimeoutS,
  active: s.active,
  created_at: s.createdAt,
  updated_at: s.updatedAt,
  ...(secretKey ? { secret_key: secretKey } : {}),
});

const json = <T extends z.ZodType>(schema: T) => ({ content: { 'application/json': { schema } } });
const IdParam = z.object({ id: SourceId });
const security = [{ adminToken: [] }];
const one = (description: string) => ({ description, ...json(SourceJson) });

const routes = {
  create: createRoute({ method: 'post', path: '/', summary: 'Create an event source', security, request: { body: { required: true, ...json(CreateSource) } }, responses: { 201: one('The source with both keys'), ...errorResponses(400, 401, 409) } }),
  list: createRoute({ method: 'get', path: '/', summary: 'List event sources', security, responses: { 200: { description: 'All sources', ...json(z.object({ sources: z.array(SourceJson) })) }, ...errorResponses(401) } }),
  get: createRoute({ method: 'get', path: '/{id}', summary: 'Read an event source', security, request: { params: IdParam }, responses: { 200: one('The source'), ...errorResponses(401, 404) } }),
  update: createRoute({ method: 'patch', path: '/{id}', summary: 'Change an event source', security, request: { params: IdParam, body: { required: true, ...json(UpdateSource) } }, responses: { 200: one('The source'), ...errorResponses(400, 401, 404) } }),
  deactivate: createRoute({ method: 'delete', path: '/{id}', summary: 'Deactivate an event source', description: 'Its keys stop working at once in this isolate and within a minute everywhere; its data stays. `PATCH {"active": true}` re-activates it.', security, request: { params: IdParam }, responses: { 200: one('The deactivated source'), ...errorResponses(401, 404) } }),
  rotate: createRoute({
    method: 'post', path: '/{id}/rotate-keys', summary: "Rotate a source's keys", security,
    request: { params: IdParam, body: { required: false, ...json(z.object({ keys: z.array(z.enum(['public', 'secret'])).min(1).default(['public', 'secret']) })) } },
    responses: { 200: one('The source with its new keys; the old ones stop working'), ...errorResponses(400, 401, 404) },
  }),
};

async function existing(db: D1Database, id: string): Promise<EventSource> {
  const source = await getSource(db, id);
  if (!source) throw new ApiError(404, 'source_not_found', `no event source ${id}`);
  return source;
}

async function save(db: D1Database, source: EventSource, secretHash?: string) {
  await updateSource(db, source, secretHash);
  forgetSource(source.id);
}

export const admin = newApp();
admin.use(adminAuth);

admin.openapi(routes.create, async (c) => {
  const body = c.req.valid('json');
  const now = new Date().toISOString();
  const secretKey = newSecretKey();
  const source: EventSource = {
    id: body.id,
    name: body.name,
    kind: body.kind,
    allowedOrigins: body.allowed_origins,
    publicKey: newPublicKey(),
    sessionTimeoutS: body.session_timeout_s ?? tunables(c.env).defaultSessionTimeoutS,
    active: true,
    createdAt: now,
    updatedAt: now,
  };
  if (!(await insertSource(c.env.DB, source, await hashSecret(secretKey)))) {
    throw new ApiError(409, 'source_exists', `event source ${body.id} already exists`);
  }
  forgetSource(source.id);
  return c.json(toJson(source, secretKey), 201);
});

admin.openapi(routes.list, async (c) => c.json({ sources: (await listSources(c.env.DB)).map((s) => toJson(s)) }, 200));

admin.openapi(routes.get, async (c) => c.json(toJson(await existing(c.env.DB, c.req.valid('param').id)), 200));

admin.openapi(routes.update, async (c) => {
  const source = await existing(c.env.DB, c.req.valid('param').id);
  const patch = c.req.valid('json');
  const next: EventSource = {
    ...source,
    name: patch.name ?? source.name,
    allowedOrigins: patch.allowed_origins ?? source.allowedOrigins,
    sessionTimeoutS: patch.session_timeout_s ?? source.sessionTimeoutS,
    active: patch.active ?? source.active,
    updatedAt: new Date().toISOString(),
  };
  await save(c.env.DB, next);
  return c.json(toJson(next), 200);
});

admin.openapi(routes.deactivate, async (c) => {
  const source = await existing(c.env.DB, c.req.valid('param').id);
  const next = { ...source, active: false, updatedAt: new Date().toISOString() };
  await save(c.env.DB, next);
  return c.json(toJson(next), 200);
});

admin.openapi(routes.rotate, async (c) => {
  const source = await existing(c.env.DB, c.req.valid('param').id);
  const keys = new Set(c.req.valid('json')?.keys ?? ['public', 'secret']);
  const secretKey = keys.has('secret') ? newSecretKey() : undefined;
  const next = { ...source, publicKey: keys.has('public') ? newPublicKey() : source.publicKey, updatedAt: new Date().toISOString() };
  await save(c.env.DB, next, secretKey ? await hashSecret(secretKey) : undefined);
  return c.json(toJson(next, secretKey), 200);
});
