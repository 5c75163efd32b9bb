import { createRoute, z } from '@hono/zod-openapi';
import { tunables } from '../config';
import { hashSecret, newIdentitySecret, newPublicKey, newSecretKey } from '../sources/keys';
import { forgetSource } from '../sources/lookup';
import { type EventSource, insertSource, listSources, rotateKeys, SOURCE_KINDS, updateSource } from '../storage/sources';
import { newApp } from './app-env';
import { adminAuth, namedSource } from './auth';
import { guardJson } from './body';
import { ApiError, errorResponses } from './errors';
import { adminOnly, json, SourceId, SourceIdParam } from './openapi';

/** An origin as browsers send it: scheme, host and port, nothing else. */
const Origin = z
  .string()
  .refine((o) => URL.canParse(o) && new URL(o).origin === o.replace(/\/$/, ''), 'must be an origin such as https://shop.example')
  .transform((o) => new URL(o).origin);

const SessionTimeout = z.number().int().min(60).max(86_400).openapi({ description: 'Inactivity before a session closes, in seconds' });

const RequireVerifiedIdentity = z.boolean().openapi({
  description:
    'Whether the tracker and SDK must send customer_hash with every customer_id (an unproven one is then refused). Default: true for website and mobile_app sources made now; sources made before verified identity existed have it false.',
});
const QueryParamName = z.string().regex(/^[A-Za-z0-9_.\-[\]]{1,64}$/, 'must be a query parameter name');
const AllowedQueryParams = z
  .array(QueryParamName)
  .max(50)
  .openapi({
    description: 'Query parameters kept in stored URLs (page, referrer, URLs in contexts and params) besides utm_* (every other one is dropped)',
    example: ['q', 'page', 'variant'],
  });
const KeepUrlFragments = z.boolean().openapi({
  description:
    'Whether stored URLs keep a route fragment (`#/cart`), for hash-routed stores. Default false: every fragment is dropped. One that holds data (`#access_token=…`) is dropped either way.',
});

const CreateSource = z
  .object({
    id: SourceId.openapi({ description: 'The source code, `source_id` on its events', example: 'shop-eu' }),
    name: z.string().min(1).max(200),
    kind: z.enum(SOURCE_KINDS),
    allowed_origins: z
      .array(Origin)
      .max(100)
      .default([])
      .openapi({ description: 'Origins allowed to send tracker beacons', example: ['https://shop.example'] }),
    session_timeout_s: SessionTimeout.optional(),
    require_verified_identity: RequireVerifiedIdentity.optional(),
    allowed_query_params: AllowedQueryParams.default([]),
    keep_url_fragments: KeepUrlFragments.default(false),
  })
  .openapi('CreateSource');

const UpdateSource = z
  .object({
    name: z.string().min(1).max(200),
    allowed_origins: z.array(Origin).max(100),
    session_timeout_s: SessionTimeout,
    active: z.boolean(),
    require_verified_identity: RequireVerifiedIdentity,
    allowed_query_params: AllowedQueryParams,
    keep_url_fragments: KeepUrlFragments,
  })
  .partial()
  .openapi('UpdateSource');

const WEEK_S = 7 * 86_400;
const RotateKeys = z.object({
  keys: z
    .array(z.enum(['public', 'secret', 'identity']))
    .min(1)
    .default(['public', 'secret']),
  grace_s: z
    .number()
    .int()
    .min(0)
    .max(90 * 86_400)
    .default(WEEK_S)
    .openapi({
      description:
        'How long the replaced public and secret keys keep working (default 7 days; 0 cuts them at once, for a leaked key). A replaced identity secret stops at once.',
    }),
});

const SourceJson = z
  .object({
    id: z.string(),
    name: z.string(),
    kind: z.enum(SOURCE_KINDS),
    allowed_origins: z.array(z.string()),
    public_key: z.string(),
    session_timeout_s: z.number().int(),
    active: z.boolean(),
    require_verified_identity: z.boolean(),
    allowed_query_params: z.array(z.string()),
    keep_url_fragments: z.boolean(),
    previous_keys_expire_at: z.string().nullable().openapi({ description: 'Until when the keys the last rotation replaced keep working' }),
    created_at: z.string(),
    updated_at: z.string(),
    secret_key: z.string().optional().openapi({ description: 'Only in the answers to create and rotate-keys: D1 keeps its hash' }),
    identity_secret: z
      .string()
      .optional()
      .openapi({ description: "Only in the answers to create and rotate-keys: the store's backend signs customer ids with it (docs/security.md)" }),
  })
  .openapi('EventSource');

export const sourceJson = (s: EventSource, shown: { secretKey?: string; identitySecret?: string } = {}): z.infer<typeof SourceJson> => ({
  id: s.id,
  name: s.name,
  kind: s.kind,
  allowed_origins: s.allowedOrigins,
  public_key: s.publicKey,
  session_timeout_s: s.sessionTimeoutS,
  active: s.active,
  require_verified_identity: s.requireVerifiedIdentity,
  allowed_query_params: s.allowedQueryParams,
  keep_url_fragments: s.keepUrlFragments,
  previous_keys_expire_at: s.previousKeysExpireAt && s.previousKeysExpireAt > new Date().toISOString() ? s.previousKeysExpireAt : null,
  created_at: s.createdAt,
  updated_at: s.updatedAt,
  ...(shown.secretKey ? { secret_key: shown.secretKey } : {}),
  ...(shown.identitySecret ? { identity_secret: shown.identitySecret } : {}),
});

const IdParam = SourceIdParam;
const security = adminOnly;
const one = (description: string) => ({ description, ...json(SourceJson) });

const routes = {
  create: createRoute({
    method: 'post',
    path: '/',
    summary: 'Create an event source',
    security,
    request: { body: { required: true, ...json(CreateSource) } },
    responses: { 201: one('The source with both keys'), ...errorResponses(400, 401, 409) },
  }),
  list: createRoute({
    method: 'get',
    path: '/',
    summary: 'List event sources',
    security,
    responses: { 200: { description: 'All sources', ...json(z.object({ sources: z.array(SourceJson) })) }, ...errorResponses(401) },
  }),
  get: createRoute({
    method: 'get',
    path: '/{id}',
    summary: 'Read an event source',
    security,
    request: { params: IdParam },
    responses: { 200: one('The source'), ...errorResponses(401, 404) },
  }),
  update: createRoute({
    method: 'patch',
    path: '/{id}',
    summary: 'Change an event source',
    security,
    request: { params: IdParam, body: { required: true, ...json(UpdateSource) } },
    responses: { 200: one('The source'), ...errorResponses(400, 401, 404) },
  }),
  deactivate: createRoute({
    method: 'delete',
    path: '/{id}',
    summary: 'Deactivate an event source',
    description: 'Its keys stop working at once in this isolate and within a minute everywhere; its data stays. `PATCH {"active": true}` re-activates it.',
    security,
    request: { params: IdParam },
    responses: { 200: one('The deactivated source'), ...errorResponses(401, 404) },
  }),
  rotate: createRoute({
    method: 'post',
    path: '/{id}/rotate-keys',
    summary: "Rotate a source's keys",
    security,
    request: { params: IdParam, body: { required: false, ...json(RotateKeys) } },
    responses: { 200: one('The source with its new keys; the replaced ones keep working until previous_keys_expire_at'), ...errorResponses(400, 401, 404) },
  }),
};

async function save(db: D1Database, source: EventSource) {
  await updateSource(db, source);
  forgetSource(source.id);
}

export const admin = newApp();
admin.use(adminAuth);
admin.use(guardJson);

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
    identitySecret: newIdentitySecret(),
    // The public channels prove customers by default; a server source is trusted by its secret key.
    requireVerifiedIdentity: body.require_verified_identity ?? body.kind !== 'server',
    allowedQueryParams: body.allowed_query_params,
    keepUrlFragments: body.keep_url_fragments,
    previousPublicKey: null,
    previousKeysExpireAt: null,
    createdAt: now,
    updatedAt: now,
  };
  if (!(await insertSource(c.env.DB, source, await hashSecret(secretKey)))) {
    throw new ApiError(409, 'source_exists', `event source ${body.id} already exists`);
  }
  forgetSource(source.id);
  return c.json(sourceJson(source, { secretKey, identitySecret: source.identitySecret }), 201);
});

admin.openapi(routes.list, async (c) => c.json({ sources: (await listSources(c.env.DB)).map((s) => sourceJson(s)) }, 200));

admin.openapi(routes.get, async (c) => c.json(sourceJson(await namedSource(c.env.DB, c.req.valid('param').id)), 200));

admin.openapi(routes.update, async (c) => {
  const source = await namedSource(c.env.DB, c.req.valid('param').id);
  const patch = c.req.valid('json');
  const next: EventSource = {
    ...source,
    name: patch.name ?? source.name,
    allowedOrigins: patch.allowed_origins ?? source.allowedOrigins,
    sessionTimeoutS: patch.session_timeout_s ?? source.sessionTimeoutS,
    active: patch.active ?? source.active,
    requireVerifiedIdentity: patch.require_verified_identity ?? source.requireVerifiedIdentity,
    allowedQueryParams: patch.allowed_query_params ?? source.allowedQueryParams,
    keepUrlFragments: patch.keep_url_fragments ?? source.keepUrlFragments,
    updatedAt: new Date().toISOString(),
  };
  await save(c.env.DB, next);
  return c.json(sourceJson(next), 200);
});

admin.openapi(routes.deactivate, async (c) => {
  const source = await namedSource(c.env.DB, c.req.valid('param').id);
  const next = { ...source, active: false, updatedAt: new Date().toISOString() };
  await save(c.env.DB, next);
  return c.json(sourceJson(next), 200);
});

admin.openapi(routes.rotate, async (c) => {
  const { id } = c.req.valid('param');
  await namedSource(c.env.DB, id);
  const { keys, grace_s } = RotateKeys.parse(c.req.valid('json') ?? {});
  const now = Date.now();
  const secretKey = keys.includes('secret') ? newSecretKey() : undefined;
  await rotateKeys(c.env.DB, id, {
    publicKey: keys.includes('public') ? newPublicKey() : undefined,
    secretHash: secretKey ? await hashSecret(secretKey) : undefined,
    identitySecret: keys.includes('identity') ? newIdentitySecret() : undefined,
    graceUntil: new Date(now + grace_s * 1000).toISOString(),
    now: new Date(now).toISOString(),
  });
  forgetSource(id);
  const next = await namedSource(c.env.DB, id);
  return c.json(sourceJson(next, { secretKey, identitySecret: keys.includes('identity') ? next.identitySecret : undefined }), 200);
});
