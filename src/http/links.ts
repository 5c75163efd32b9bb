import { createRoute, z } from '@hono/zod-openapi';
import { Hono } from 'hono';
import { sha256Hex } from '../encoding';
import { CustomerId, Identifier } from '../events/schema';
import { LINK_PARAM, type LinkClaims, signLink, verifyLink } from '../links/token';
import { ingestBatch, sessionObject } from '../sessions/dispatch';
import { sourceById } from '../sources/lookup';
import type { AppEnv } from './app-env';
import { newApp } from './app-env';
import { secretKeyAuth } from './auth';
import { guardJson } from './body';
import { isBot } from './bots';
import { ApiError, errorResponses } from './errors';
import { limitClient } from './rate-limit';

const DAY_S = 86_400;
const CreateLink = z
  .object({
    session_id: Identifier.optional().openapi({ description: 'The session whose event triggered the campaign; omit for a mailing to a customer' }),
    customer_id: CustomerId,
    campaign_id: z.string().min(1).max(128),
    target_url: z.url({ protocol: /^https?$/ }),
    ttl_s: z
      .number()
      .int()
      .min(60)
      .max(90 * DAY_S)
      .default(30 * DAY_S),
  })
  .openapi('CreateLink');

const route = createRoute({
  method: 'post',
  path: '/',
  summary: 'Make a tracked campaign link',
  description: `A short URL \`/l/TOKEN\` (opaque: encrypted and authenticated, expiring) that redirects to \`target_url\` with \`${LINK_PARAM}=TOKEN\` added, after linking the session to the customer. The target must be on one of the source's allowed origins.`,
  security: [{ sourceSecretKey: [] }],
  request: { body: { required: true, content: { 'application/json': { schema: CreateLink } } } },
  responses: {
    201: { description: 'The link', content: { 'application/json': { schema: z.object({ url: z.string(), token: z.string(), expires_at: z.string() }) } } },
    ...errorResponses(400, 401, 403),
  },
});

/** `POST /api/v1/links`: partners make the links their campaigns send. */
export const links = newApp();
links.use(secretKeyAuth, guardJson);

links.openapi(route, async (c) => {
  const body = c.req.valid('json');
  const source = c.get('source');
  const target = new URL(body.target_url);
  // No open redirect: a link only ever lands on the source's own site.
  if (!source.allowedOrigins.includes(target.origin)) {
    throw new ApiError(400, 'target_not_allowed', `target_url: ${target.origin} is not an allowed origin of source ${source.id}`, [
      { path: 'target_url', message: 'not an allowed origin of the source' },
    ]);
  }
  const exp = Math.floor(Date.now() / 1000) + body.ttl_s;
  const claims: LinkClaims = {
    src: source.id,
    ...(body.session_id ? { sid: body.session_id } : {}),
    cus: body.customer_id,
    cmp: body.campaign_id,
    url: target.href,
    exp,
  };
  const token = await signLink(claims, c.env.LINK_SIGNING_KEY);
  return c.json({ url: `${new URL(c.req.url).origin}/l/${token}`, token, expires_at: new Date(exp * 1000).toISOString() }, 201);
});

const NEUTRAL_PAGE = '<!doctype html><meta charset="utf-8"><title>Link expired</title><p>This link is no longer valid.</p>';

/**
 * `GET /l/TOKEN`: a click. A bad token changes nothing and lands on a safe page. A click is
 * recorded once per token (its `campaign_click` event id comes from the token); a `HEAD` or a
 * bot (a mail scanner following every link) is redirected without recording or linking anything.
 */
export const clicks = new Hono<AppEnv>();

clicks.get('/:token', async (c) => {
  await limitClient(c.env, c.req.raw);
  const token = c.req.param('token');
  const claims = await verifyLink(token, c.env.LINK_SIGNING_KEY);
  const source = claims && (await sourceById(c.env.DB, claims.src));
  if (!claims || !source?.active) return c.html(NEUTRAL_PAGE, 404);
  const target = new URL(claims.url);
  target.searchParams.set(LINK_PARAM, token);
  const userAgent = c.req.header('user-agent') ?? '';
  if (c.req.method === 'HEAD' || isBot(userAgent)) return c.redirect(target.href, 302);

  // A mailing link names no session: its click gets a session of its own, one per link.
  const sessionId = claims.sid ?? `click.${token.slice(-24)}`;
  const click = {
    event_id: `click:${(await sha256Hex(token)).slice(0, 40)}`,
    session_id: sessionId,
    name: 'campaign_click',
    occurred_at: new Date().toISOString(),
    params: { campaign_id: claims.cmp },
  };
  const [result] = await ingestBatch(c.env, source, [click], { channel: 'api', receivedAt: Date.now(), device: userAgent ? { user_agent: userAgent } : null });
  if (result?.status === 'accepted') await sessionObject(c.env, source.id, sessionId).linkCustomer(claims.cus, 'campaign_link');
  return c.redirect(target.href, 302);
});
