import { deleteSessions, type SessionKey } from './records';

/** D1 access for retention (src/retention/purge.ts): sessions past their days, events past the D1 window. */

/** Which sessions are past retention: anonymous ones before one cutoff, identified ones (when set) before another. */
export interface Expiry {
  anonymousBefore: string;
  identifiedBefore: string | null;
}

export type ExpiredKind = 'anonymous' | 'identified';

/**
 * Retention counts from the later of the last event and the last arrival (?2: the cutoff), of a
 * closed session: an open one's row keeps its times as of its last change but its events (its
 * object closes it, and its row then has them all).
 */
const PAST = "last_received_at < ?2 AND last_event_at < ?2 AND status = 'closed'";
const EXPIRED: Record<ExpiredKind, string> = {
  anonymous: `customer_id IS NULL AND ${PAST}`,
  // started_at: a session last active before the cutoff started before it (index sessions_identified_by_start)
  identified: `customer_id IS NOT NULL AND started_at < ?2 AND ${PAST}`,
};

/** Up to `limit` sessions of a kind past the cutoff. */
export async function listExpired(db: D1Database, kind: ExpiredKind, cutoff: string, limit: number): Promise<SessionKey[]> {
  const { results } = await db.prepare(`SELECT source_id, session_id FROM sessions WHERE ${EXPIRED[kind]} LIMIT ?1`).bind(limit, cutoff).all<SessionKey>();
  return results;
}

/** Deletes these sessions past retention with their events, unless one received an event (or a customer) since it was listed. */
export const deleteExpired = (db: D1Database, kind: ExpiredKind, cutoff: string, keys: readonly SessionKey[]) =>
  deleteSessions(db, keys, EXPIRED[kind], cutoff);

/**
 * Deletes the sessions past retention with their events, `chunk` sessions per transaction, until
 * none is left or `deadline` (ms) passes. Returns the sessions deleted and whether it finished.
 */
export async function purgeExpiredSessions(db: D1Database, expiry: Expiry, deadline: number, chunk = 500) {
  let deleted = 0;
  const kinds = [
    ['anonymous', expiry.anonymousBefore],
    ['identified', expiry.identifiedBefore],
  ] as const;
  for (const [kind, cutoff] of kinds) {
    if (cutoff === null) continue;
    for (;;) {
      if (Date.now() > deadline) return { deleted, finished: false };
      const keys = await listExpired(db, kind, cutoff, chunk);
      if (keys.length) deleted += await deleteExpired(db, kind, cutoff, keys);
      if (keys.length < chunk) break;
    }
  }
  return { deleted, finished: true };
}

/**
 * Deletes the events that occurred before `cutoff` (ms: the D1 event window), source by source
 * through the (source_id, occurred_at) index, at most `chunk` rows a statement, until none is
 * left or `deadline` (ms) passes. Returns the events deleted and whether it finished.
 */
export async function trimEvents(db: D1Database, sourceIds: readonly string[], cutoff: number, deadline: number, chunk = 5_000) {
  let deleted = 0;
  const trim = db.prepare('DELETE FROM web_events WHERE rowid IN (SELECT rowid FROM web_events WHERE source_id = ?1 AND occurred_at < ?2 LIMIT ?3)');
  for (const sourceId of sourceIds) {
    for (;;) {
      if (Date.now() > deadline) return { deleted, finished: false };
      const { meta } = await trim.bind(sourceId, cutoff, chunk).run();
      deleted += meta.changes;
      if (meta.changes < chunk) break;
    }
  }
  return { deleted, finished: true };
}
