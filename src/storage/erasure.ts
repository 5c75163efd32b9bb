import type { SessionKey } from './records';

/** D1 access for erasing a customer (docs/privacy.md); `scope` is one source, or null for all. */

/** The sessions that name the customer, verified or as a claim, at most `limit`. */
export async function customerSessionKeys(db: D1Database, customerId: string, scope: string | null, limit: number): Promise<SessionKey[]> {
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
export async function sessionsWithEventsOf(db: D1Database, customerId: string, scope: string | null, limit: number): Promise<SessionKey[]> {
  const { results } = await db
    .prepare('SELECT DISTINCT source_id, session_id FROM web_events WHERE customer_id = ?1 AND (?2 IS NULL OR source_id = ?2) LIMIT ?3')
    .bind(customerId, scope, limit)
    .all<SessionKey>();
  return results;
}

/**
 * What names the customer outside their sessions, in one transaction: their events in other
 * sessions (an identity conflict), segment memberships (counts kept right), dead letters and
 * campaign link landings.
 */
export async function deleteCustomerTraces(db: D1Database, customerId: string, scope: string | null) {
  const inScope = '(?2 IS NULL OR source_id = ?2)';
  const segmentsInScope = `SELECT id FROM segments WHERE ${inScope.replace('source_id', 'segments.source_id')}`;
  const [events, , memberships, deadLetters, landings] = await db.batch([
    db.prepare(`DELETE FROM web_events WHERE customer_id = ?1 AND ${inScope}`).bind(customerId, scope),
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
    events: events!.meta.changes,
    segmentMemberships: memberships!.meta.changes,
    deadLetters: deadLetters!.meta.changes,
    landings: landings!.meta.changes,
  };
}
