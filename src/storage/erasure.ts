import { hex, hmacSha256 } from '../encoding';
import { EVENTS_WITH_SESSION, isConflict, type SessionKey } from './records';
import { onEveryShard } from './shards';

/**
 * D1 access for erasing a customer (docs/privacy.md); `scope` is one source, or null for all.
 * Every shard is asked: a claim names a customer in an anonymous session, which lives on its own shard.
 */

/** The sessions that name the customer, verified or as a claim, at most `limit`. */
export async function customerSessionKeys(env: Env, customerId: string, scope: string | null, limit: number): Promise<SessionKey[]> {
  return (await onEveryShard(env, (db) => customerSessionKeysOn(db, customerId, scope, limit))).flat().slice(0, limit);
}

async function customerSessionKeysOn(db: D1Database, customerId: string, scope: string | null, limit: number): Promise<SessionKey[]> {
  const { results } = await db
    .prepare(
      `SELECT source_id, session_id FROM sessions WHERE customer_id = ?1 AND (?2 IS NULL OR source_id = ?2)
       UNION SELECT source_id, session_id FROM sessions WHERE claimed_customer_id = ?1 AND (?2 IS NULL OR source_id = ?2)
       LIMIT ?3`,
    )
    .bind(customerId, scope, limit)
    .all<SessionKey>();
  return results;
}

/** Other sessions with events that name the customer (an identity conflict, a claim in someone else's session). */
export async function sessionsWithEventsOf(env: Env, customerId: string, scope: string | null, limit: number): Promise<SessionKey[]> {
  const found = await onEveryShard(env, async (db) => {
    const { results } = await db
      .prepare(
        `SELECT DISTINCT s.source_id, s.session_id FROM ${EVENTS_WITH_SESSION} WHERE ${isConflict('e.flags')} AND e.customer_id = ?1 AND (?2 IS NULL OR e.source_id = ?2) LIMIT ?3`,
      )
      .bind(customerId, scope, limit)
      .all<SessionKey>();
    return results;
  });
  return found.flat().slice(0, limit);
}

/**
 * What names the customer outside their sessions: their events in other sessions (an identity
 * conflict) on every shard, then, in one transaction on the home shard, segment memberships
 * (counts kept right), dead letters and campaign link landings.
 */
export async function deleteCustomerTraces(env: Env, customerId: string, scope: string | null) {
  const inScope = '(?2 IS NULL OR source_id = ?2)';
  const segmentsInScope = `SELECT id FROM segments WHERE ${inScope.replace('source_id', 'segments.source_id')}`;
  const events = await onEveryShard(env, (db) =>
    db
      .prepare(`DELETE FROM web_events WHERE ${isConflict('flags')} AND customer_id = ?1 AND ${inScope}`)
      .bind(customerId, scope)
      .run(),
  );
  const db = env.DB;
  const [, memberships, deadLetters, landings] = await db.batch([
    db
      .prepare(
        `UPDATE segments SET member_count = member_count - 1 WHERE id IN (SELECT segment_id FROM segment_members WHERE customer_id = ?1) AND id IN (${segmentsInScope})`,
      )
      .bind(customerId, scope),
    db.prepare(`DELETE FROM segment_members WHERE customer_id = ?1 AND segment_id IN (${segmentsInScope})`).bind(customerId, scope),
    db.prepare(`DELETE FROM trigger_dead_letters WHERE customer_id = ?1 AND ${inScope}`).bind(customerId, scope),
    db.prepare(`DELETE FROM link_landings WHERE customer_id = ?1 AND ${inScope}`).bind(customerId, scope),
  ]);
  return {
    events: events.reduce((n, r) => n + r.meta.changes, 0),
    segmentMemberships: memberships!.meta.changes,
    deadLetters: deadLetters!.meta.changes,
    landings: landings!.meta.changes,
  };
}

/**
 * What an erasure's own record keeps of a customer or a session: a keyed hash (HMAC with the
 * deployment's LINK_SIGNING_KEY), so the record names nobody to whoever reads D1.
 */
export async function erasureKey(secret: string, what: { customer: string } | { session: string }): Promise<string> {
  return hex(await hmacSha256(secret, 'customer' in what ? `customer\u0000${what.customer}` : `session\u0000${what.session}`));
}

/** Records an erasure: these keys on these sources, at `at` (a repeat moves the time on). */
export async function recordErasure(db: D1Database, entries: readonly { sourceId: string; key: string }[], at: string): Promise<void> {
  const insert = db.prepare('INSERT INTO erasures (source_id, key, erased_at) VALUES (?, ?, ?) ON CONFLICT DO UPDATE SET erased_at = excluded.erased_at');
  for (let i = 0; i < entries.length; i += 100) await db.batch(entries.slice(i, i + 100).map((e) => insert.bind(e.sourceId, e.key, at)));
}

/** Whether any of these keys was erased on the source at or after `since` (ISO): what came after an erasure is not its. */
export async function wasErased(db: D1Database, sourceId: string, keys: readonly string[], since: string): Promise<boolean> {
  if (!keys.length) return false;
  const row = await db
    .prepare(`SELECT 1 AS hit FROM erasures WHERE source_id = ? AND erased_at >= ? AND key IN (${keys.map(() => '?').join(', ')}) LIMIT 1`)
    .bind(sourceId, since, ...keys)
    .first();
  return row !== null;
}

/** Erasure records past their days. */
export async function purgeErasures(db: D1Database, before: string): Promise<number> {
  const { meta } = await db.prepare('DELETE FROM erasures WHERE erased_at < ?').bind(before).run();
  return meta.changes;
}
