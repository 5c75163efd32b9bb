import { isD1Error, STALE_WHILE_D1_DOWN_MS, Unavailable } from '../storage/outage';
import { type EventSource, findSourceByPublicKey, findSourceBySecretHash, getSource } from '../storage/sources';
import { hashSecret, isPublicKey, isSecretKey } from './keys';
import { Lru } from './lru';

/**
 * Sources by key, cached in the isolate: every ingest request needs one, and reading D1 each
 * time would cost more than the rest of the request. An admin change reaches other isolates
 * within `TTL_MS`; this isolate forgets at once (see `forgetSource`).
 *
 * Found sources and misses live in separate bounded LRUs, so a flood of unknown keys can neither
 * evict the sources in use nor grow the isolate. A string that is not a key at all never reaches D1.
 *
 * While D1 cannot be read, the last answer serves for up to STALE_WHILE_D1_DOWN_MS past its time:
 * ingest goes on through an outage. A key this isolate never looked up is a 503 then.
 */
const TTL_MS = 60_000;

const found = new Lru<EventSource>(10_000);
const missed = new Lru<null>(1_000);

async function cached(key: string, load: (now: string) => Promise<EventSource | null>): Promise<EventSource | null> {
  const now = Date.now();
  const hit = found.get(key, now) ?? missed.get(key, now);
  if (hit !== undefined) return hit;
  let source: EventSource | null;
  try {
    source = await load(new Date(now).toISOString());
  } catch (error) {
    if (!isD1Error(error)) throw error;
    const stale = found.stale(key, now, STALE_WHILE_D1_DOWN_MS) ?? missed.stale(key, now, STALE_WHILE_D1_DOWN_MS);
    console.warn(JSON.stringify({ message: 'source lookup failed', stale: stale !== undefined, error: String(error) }));
    if (stale !== undefined) return stale;
    throw new Unavailable('event sources cannot be read now (D1)');
  }
  if (!source) {
    missed.set(key, null, now + TTL_MS);
    return null;
  }
  // A replaced key found in its grace period is cached no longer than the grace lasts.
  const graceEnds = source.previousKeysExpireAt ? Date.parse(source.previousKeysExpireAt) : Infinity;
  found.set(key, source, graceEnds > now ? Math.min(now + TTL_MS, graceEnds) : now + TTL_MS);
  return source;
}

export const sourceByPublicKey = (db: D1Database, key: string) =>
  isPublicKey(key) ? cached(`pk:${key}`, (now) => findSourceByPublicKey(db, key, now)) : Promise.resolve(null);

export async function sourceBySecretKey(db: D1Database, secret: string) {
  if (!isSecretKey(secret)) return null;
  const hash = await hashSecret(secret);
  return cached(`sk:${hash}`, (now) => findSourceBySecretHash(db, hash, now));
}

export const sourceById = (db: D1Database, id: string) => cached(`id:${id}`, () => getSource(db, id));

/** Drops every cached entry of a source, and every miss (after an admin change in this isolate). */
export function forgetSource(id: string): void {
  found.deleteWhere((source) => source.id === id);
  missed.deleteWhere(() => true);
}
