import { findSourceByPublicKey, findSourceBySecretHash, getSource, type EventSource } from '../storage/sources';
import { hashSecret } from './keys';

/**
 * Sources by key, cached in the isolate: every ingest request needs one, and reading D1 each
 * time would cost more than the rest of the request. An admin change reaches other isolates
 * within `TTL_MS`; this isolate forgets at once (see `forgetSource`).
 */
const TTL_MS = 60_000;
const MAX_ENTRIES = 10_000;
const cache = new Map<string, { source: EventSource | null; until: number }>();

async function cached(key: string, load: () => Promise<EventSource | null>): Promise<EventSource | null> {
  const hit = cache.get(key);
  const now = Date.now();
  if (hit && hit.until > now) return hit.source;
  const source = await load();
  if (cache.size >= MAX_ENTRIES) cache.clear();
  cache.set(key, { source, until: now + TTL_MS });
  return source;
}

export const sourceByPublicKey = (db: D1Database, key: string) => cached(`pk:${key}`, () => findSourceByPublicKey(db, key));

export async function sourceBySecretKey(db: D1Database, secret: string) {
  const hash = await hashSecret(secret);
  return cached(`sk:${hash}`, () => findSourceBySecretHash(db, hash));
}

/** Drops every cached entry of a source (after an admin change in this isolate). */
export function forgetSource(id: string): void {
  for (const [key, entry] of cache) if (entry.source?.id === id || entry.source === null) cache.delete(key);
}

export const sourceById = (db: D1Database, id: string) => cached(`id:${id}`, () => getSource(db, id));
