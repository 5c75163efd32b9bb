import { createMiddleware } from 'hono/factory';
import { safeEqual } from '../sources/keys';
import { sourceByPublicKey, sourceBySecretKey } from '../sources/lookup';
import { type EventSource, getSource } from '../storage/sources';
import type { AppEnv } from './app-env';
import { ApiError, orNotFound } from './errors';
import { countFailedKey, refuseFailingClient } from './rate-limit';

const bearer = (header: string | undefined) => header?.match(/^Bearer\s+(\S+)\s*$/i)?.[1];
const challenge = { 'WWW-Authenticate': 'Bearer' };

/** Refuses an unknown or deactivated source with the reason. */
export function usableSource(source: EventSource | null, what: string): EventSource {
  if (!source) throw new ApiError(401, 'invalid_key', `the ${what} does not belong to any event source`, undefined, challenge);
  if (!source.active) throw new ApiError(403, 'source_inactive', `event source ${source.id} is deactivated`);
  return source;
}

/**
 * The source `find` reads for a request's key, unless its client sent too many keys that named none
 * (429 before the lookup); a key that names none counts against its client.
 */
export async function keyedSource(env: Env, request: Request | undefined, find: () => Promise<EventSource | null>): Promise<EventSource | null> {
  if (request) refuseFailingClient(request);
  const source = await find();
  if (!source && request) await countFailedKey(env, request);
  return source;
}

/** A public key of the kind of source the channel sends for (the tracker: website; the SDK: mobile_app). */
export async function publicSource(env: Env, request: Request, key: string, kind: 'website' | 'mobile_app', channel: string): Promise<EventSource> {
  const source = usableSource(await keyedSource(env, request, () => sourceByPublicKey(env.DB, key)), 'public key');
  if (source.kind !== kind)
    throw new ApiError(403, 'wrong_source_kind', `source ${source.id} is a ${source.kind} source: the ${channel} sends for ${kind} sources`);
  return source;
}

/** The source an admin route names: one that exists, or a 404. */
export const namedSource = async (db: D1Database, id: string) => orNotFound(await getSource(db, id), 'source_not_found', `no event source ${id}`);

/** Partner REST API: the source's secret key as `Authorization: Bearer sk_...`. */
export const secretKeyAuth = createMiddleware<AppEnv>(async (c, next) => {
  const key = bearer(c.req.header('authorization'));
  if (!key) throw new ApiError(401, 'missing_key', 'send the source secret key as Authorization: Bearer sk_...', undefined, challenge);
  c.set('source', usableSource(await keyedSource(c.env, c.req.raw, () => sourceBySecretKey(c.env.DB, key)), 'secret key'));
  await next();
});

const isAdminToken = (token: string | undefined, expected: string | undefined) => !!token && !!expected && safeEqual(token, expected);

/** Operators: the ADMIN_TOKEN wrangler secret as a Bearer token. */
export const adminAuth = createMiddleware<AppEnv>(async (c, next) => {
  if (!c.env.ADMIN_TOKEN) throw new ApiError(403, 'admin_disabled', 'the admin API is off: set the ADMIN_TOKEN secret');
  if (!isAdminToken(bearer(c.req.header('authorization')), c.env.ADMIN_TOKEN)) {
    throw new ApiError(401, 'invalid_admin_token', 'send the admin token as Authorization: Bearer <ADMIN_TOKEN>', undefined, challenge);
  }
  await next();
});

/**
 * What a key reads: the admin token every source (null), a secret key its own; anything else is
 * refused. With the request, a key that names no source counts against its client.
 */
export const scopeOfKey = async (env: Env, key: string, request?: Request): Promise<string | null> =>
  isAdminToken(key, env.ADMIN_TOKEN) ? null : usableSource(await keyedSource(env, request, () => sourceBySecretKey(env.DB, key)), 'secret key').id;

/** A source's secret key (scope: that source) or the admin token (scope: every source). */
export const scopedAuth = createMiddleware<AppEnv>(async (c, next) => {
  const key = bearer(c.req.header('authorization'));
  if (!key) throw new ApiError(401, 'missing_key', 'send a source secret key (or the admin token) as Authorization: Bearer ...', undefined, challenge);
  c.set('scope', await scopeOfKey(c.env, key, c.req.raw));
  await next();
});

/** A read in scope: a source key's own source, or (the admin token, scope null) any. */
export function inScope(scope: string | null, sourceId: string): void {
  if (scope !== null && scope !== sourceId) throw new ApiError(403, 'foreign_source', `this key belongs to source ${scope}, not ${sourceId}`);
}

/** A secret key or an identity secret as src/sources/keys.ts makes them, anywhere in a text. */
const SECRET_IN_TEXT = /(?<![A-Za-z0-9])(?:sk|idsec)_[A-Za-z0-9_-]{43}(?![A-Za-z0-9_-])/;

const decoded = (text: string) => {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
};

/**
 * Refuses a request whose URL (path or query, percent-encoded or not) carries a secret key or an
 * identity secret, before any route reads it: the platform's request log and Workers Logs keep
 * every URL, so a secret sent there is exposed whatever the answer. The refusal says why, is
 * readable by any page (it tells nothing), and never repeats the secret.
 */
export const refuseSecretInUrl = createMiddleware<AppEnv>(async (c, next) => {
  // On every request: one scan of the URL as it came, a decoded one only when it has escapes.
  const url = c.req.url;
  if (SECRET_IN_TEXT.test(url) || (url.includes('%') && SECRET_IN_TEXT.test(decoded(url))))
    throw new ApiError(
      400,
      'secret_in_url',
      'the URL carries a secret key or an identity secret, which request logs keep: send a secret key in the Authorization header or the body (a page or an app uses the public key), and rotate this one',
      undefined,
      { 'access-control-allow-origin': '*' },
    );
  await next();
});
