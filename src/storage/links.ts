/** D1 access for campaign link landings: which session a link token linked. */

export interface Landing {
  tokenId: string;
  sourceId: string;
  sessionId: string;
  customerId: string;
  expiresAt: string;
}

/**
 * Records that a session landed with a link token; true when this session is the one the token
 * links (the first to land, or the same one again), false for any later session.
 */
export async function claimLanding(db: D1Database, l: Landing): Promise<boolean> {
  const [, row] = await db.batch<{ session_id: string }>([
    db
      .prepare('INSERT INTO link_landings (token_id, source_id, session_id, customer_id, expires_at) VALUES (?, ?, ?, ?, ?) ON CONFLICT (token_id) DO NOTHING')
      .bind(l.tokenId, l.sourceId, l.sessionId, l.customerId, l.expiresAt),
    db.prepare('SELECT session_id FROM link_landings WHERE token_id = ?').bind(l.tokenId),
  ]);
  return row?.results[0]?.session_id === l.sessionId;
}

/** Forgets landings whose token has expired (it can link nothing any more). */
export async function purgeExpiredLandings(db: D1Database, now: string): Promise<number> {
  const { meta } = await db.prepare('DELETE FROM link_landings WHERE expires_at < ?').bind(now).run();
  return meta.changes;
}
