/** D1 access for event sources; the rest of the worker sees `EventSource`, never rows. */

export const SOURCE_KINDS = ['website', 'mobile_app', 'server'] as const;
export type SourceKind = (typeof SOURCE_KINDS)[number];

export interface EventSource {
  id: string;
  name: string;
  kind: SourceKind;
  allowedOrigins: string[];
  publicKey: string;
  sessionTimeoutS: number;
  active: boolean;
  createdAt: string;
  updatedAt: string;
}

interface SourceRow {
  id: string;
  name: string;
  kind: SourceKind;
  allowed_origins: string;
  public_key: string;
  session_timeout_s: number;
  active: number;
  created_at: string;
  updated_at: string;
}

const COLUMNS = 'id, name, kind, allowed_origins, public_key, session_timeout_s, active, created_at, updated_at';

const toSource = (row: SourceRow): EventSource => ({
  id: row.id,
  name: row.name,
  kind: row.kind,
  allowedOrigins: JSON.parse(row.allowed_origins) as string[],
  publicKey: row.public_key,
  sessionTimeoutS: row.session_timeout_s,
  active: row.active === 1,
  createdAt: row.created_at,
  updatedAt: row.updated_at,
});

const one = async (stmt: D1PreparedStatement) => {
  const row = await stmt.first<SourceRow>();
  return row ? toSource(row) : null;
};

/** Inserts a source; false when the id (or a key) is taken. */
export async function insertSource(db: D1Database, s: EventSource, secretHash: string): Promise<boolean> {
  const { meta } = await db
    .prepare(
      `INSERT INTO event_sources (${COLUMNS}, secret_key_hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
    )
    .bind(s.id, s.name, s.kind, JSON.stringify(s.allowedOrigins), s.publicKey, s.sessionTimeoutS, s.active ? 1 : 0, s.createdAt, s.updatedAt, secretHash)
    .run();
  return meta.changes === 1;
}

export const getSource = (db: D1Database, id: string) =>
  one(db.prepare(`SELECT ${COLUMNS} FROM event_sources WHERE id = ?`).bind(id));

export const findSourceByPublicKey = (db: D1Database, key: string) =>
  one(db.prepare(`SELECT ${COLUMNS} FROM event_sources WHERE public_key = ?`).bind(key));

export const findSourceBySecretHash = (db: D1Database, hash: string) =>
  one(db.prepare(`SELECT ${COLUMNS} FROM event_sources WHERE secret_key_hash = ?`).bind(hash));

export async function listSources(db: D1Database): Promise<EventSource[]> {
  const { results } = await db.prepare(`SELECT ${COLUMNS} FROM event_sources ORDER BY id`).all<SourceRow>();
  return results.map(toSource);
}

/** Writes the mutable fields (and, on rotation, the keys) of a source. */
export async function updateSource(db: D1Database, s: EventSource, secretHash?: string): Promise<void> {
  await db
    .prepare(
      `UPDATE event_sources SET name = ?, allowed_origins = ?, session_timeout_s = ?, active = ?, public_key = ?,
       secret_key_hash = COALESCE(?, secret_key_hash), updated_at = ? WHERE id = ?`,
    )
    .bind(s.name, JSON.stringify(s.allowedOrigins), s.sessionTimeoutS, s.active ? 1 : 0, s.publicKey, secretHash ?? null, s.updatedAt, s.id)
    .run();
}
