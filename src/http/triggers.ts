import { createRoute, z } from '@hono/zod-openapi';
import { tunables } from '../config';
import { randomHex } from '../encoding';
import { deactivateRule, insertRule, listRules } from '../storage/triggers';
import { forgetRules } from '../triggers/lookup';
import { checkedRule, TriggerDefinition, type TriggerRule } from '../triggers/rules';
import { webhookTargetProblem } from '../triggers/webhook-target';
import { newApp } from './app-env';
import { adminAuth, namedSource } from './auth';
import { guardJson } from './body';
import { ApiError, errorResponses } from './errors';
import { adminOnly, json, SourceIdParam } from './openapi';

const CreateTrigger = z
  .object({
    name: z.string().min(1).max(200),
    definition: TriggerDefinition,
    webhook_url: z.url({ protocol: /^https?$/ }).openapi({ description: 'An https URL on a public host name: no IP address, no localhost (docs/security.md)' }),
  })
  .openapi('CreateTrigger');

const TriggerJson = z
  .object({
    id: z.string(),
    source_id: z.string(),
    name: z.string(),
    definition: TriggerDefinition,
    webhook_url: z.string(),
    active: z.boolean(),
    created_at: z.string(),
    secret: z.string().optional().openapi({ description: 'The webhook signing secret: only in the answer to create' }),
  })
  .openapi('Trigger');

const security = adminOnly;
const SourceParam = SourceIdParam;

const routes = {
  create: createRoute({
    method: 'post',
    path: '/{id}/triggers',
    summary: 'Create a campaign trigger rule',
    security,
    request: { params: SourceParam, body: { required: true, ...json(CreateTrigger) } },
    responses: { 201: { description: 'The rule, with its signing secret (shown only here)', ...json(TriggerJson) }, ...errorResponses(400, 401, 404) },
  }),
  list: createRoute({
    method: 'get',
    path: '/{id}/triggers',
    summary: "A source's trigger rules",
    security,
    request: { params: SourceParam },
    responses: { 200: { description: 'The rules', ...json(z.object({ triggers: z.array(TriggerJson) })) }, ...errorResponses(401, 404) },
  }),
  remove: createRoute({
    method: 'delete',
    path: '/{id}/triggers/{trigger_id}',
    summary: 'Deactivate a trigger rule',
    security,
    request: { params: SourceParam.extend({ trigger_id: z.string().min(1).max(64) }) },
    responses: { 204: { description: 'Deactivated' }, ...errorResponses(401, 404) },
  }),
};

const toJson = ({ secret, ...rule }: TriggerRule, showSecret = false) => ({ ...rule, ...(showSecret ? { secret } : {}) });

/** `/api/v1/admin/sources/{id}/triggers`: operators manage what fires campaigns. */
export const triggers = newApp();
triggers.use('/:id/triggers/*', adminAuth);
triggers.use('/:id/triggers', adminAuth, guardJson);

triggers.openapi(routes.create, async (c) => {
  const { id } = c.req.valid('param');
  await namedSource(c.env.DB, id);
  const body = c.req.valid('json');
  const problem = webhookTargetProblem(body.webhook_url, tunables(c.env).allowInsecureWebhooks);
  if (problem) throw new ApiError(400, 'invalid_request', `webhook_url: ${problem}`, [{ path: 'webhook_url', message: problem }]);
  const rule: TriggerRule = {
    id: `trg_${randomHex(12)}`,
    source_id: id,
    name: body.name,
    definition: body.definition,
    webhook_url: body.webhook_url,
    secret: `whsec_${randomHex(24)}`,
    active: true,
    created_at: new Date().toISOString(),
  };
  await insertRule(c.env.DB, rule);
  forgetRules(id);
  return c.json(toJson(rule, true), 201);
});

triggers.openapi(routes.list, async (c) => {
  const { id } = c.req.valid('param');
  await namedSource(c.env.DB, id);
  return c.json({ triggers: (await listRules(c.env.DB, id)).map((r) => toJson(checkedRule(r))) }, 200);
});

triggers.openapi(routes.remove, async (c) => {
  const { id, trigger_id } = c.req.valid('param');
  if (!(await deactivateRule(c.env.DB, id, trigger_id))) throw new ApiError(404, 'trigger_not_found', `no trigger ${trigger_id} on source ${id}`);
  forgetRules(id);
  return c.body(null, 204);
});
