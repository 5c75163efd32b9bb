import { createMiddleware } from 'hono/factory';
import { safeEqual } from '../sources/keys';
import { sourceByPublicKey, sourceBySecretKey } from '../sources/lookup';
import { type EventSource, getSource } from '../storage/sources';
import type { AppEnv } from './app-env';
import { ApiError, orNotFound } from './errors';

const bearer = (header: string | undefined) => header?.match(/^Bearer\s+(\S+)\s*$/i)?.[1];
const challenge = { 'WWW-Authenticate': 'Bearer' };

/** Refuses an unknown or deactivated source with the reason. */
export function usableSource(source: EventSource | null, what: string): EventSource {
  if (!source) throw new ApiError(401, 'invalid_key', `the ${what} does not belong to any event source`, undefined, challenge);
  if (!source.active) throw new ApiError(403, 'source_inactive', `event source ${source.id} is deactivated`);
  return source;
}

/** A public key of the kind of source the channel sends for (the tracker: website; the SDK: mobile_app). */
export async function publicSource(db: D1Database, key: string, kind: 'website' | 'mobile_app', channel: string): Promise<EventSource> {
  const source = usableSource(await sourceByPublicKey(db, key), 'public key');
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
  c.set('source', usableSource(await sourceBySecretKey(c.env.DB, key), 'secret key'));
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

/** What a key reads: the admin token every source (null), a secret key its own; anything else is refused. */
export const scopeOfKey = async (env: Env, key: string): Promise<string | null> =>
  isAdminToken(key, env.ADMIN_TOKEN) ? null : usableSource(await sourceBySecretKey(env.DB, key), 'secret key').id;

/** A source's secret key (scope: that source) or the admin token (scope: every source). */
export const scopedAuth = createMiddleware<AppEnv>(async (c, next) => {
  const key = bearer(c.req.header('authorization'));
  if (!key) throw new ApiError(401, 'missing_key', 'send a source secret key (or the admin token) as Authorization: Bearer ...', undefined, challenge);
  c.set('scope', await scopeOfKey(c.env, key));
  await next();
});

/** A read in scope: a source key's own source, or (the admin token, scope null) any. */
export function inScope(scope: string | null, sourceId: string): void {
  if (scope !== null && scope !== sourceId) throw new ApiError(403, 'foreign_source', `this key belongs to source ${scope}, not ${sourceId}`);
}
