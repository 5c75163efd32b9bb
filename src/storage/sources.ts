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
  /** Signs customer ids for the public channels (HMAC-SHA256); needed in clear to verify. */
  identitySecret: string;
  /** Whether the tracker and SDK must prove every customer id (else unproven ones are kept as claims). */
  requireVerifiedIdentity: boolean;
  /** Query parameters kept in stored URLs besides utm_*. */
  allowedQueryParams: string[];
  /** Whether stored URLs keep route fragments (`#/cart`), for hash-routed stores; else every fragment is dropped. */
  keepUrlFragments: boolean;
  /** The keys the last rotation replaced, valid until `previousKeysExpireAt`. */
  previousPublicKey: string | null;
  previousKeysExpireAt: string | null;
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
  identity_secret: string;
  require_verified_identity: number;
  allowed_query_params: string;
  keep_url_fragments: number;
  previous_public_key: string | null;
  previous_keys_expire_at: string | null;
  created_at: string;
  updated_at: string;
}

const COLUMNS =
  'id, name, kind, allowed_origins, public_key, session_timeout_s, active, identity_secret, require_verified_identity, allowed_query_params, keep_url_fragments, previous_public_key, previous_keys_expire_at, created_at, updated_at';

const toSource = (row: SourceRow): EventSource => ({
  id: row.id,
  name: row.name,
  kind: row.kind,
  allowedOrigins: JSON.parse(row.allowed_origins) as string[],
  publicKey: row.public_key,
  sessionTimeoutS: row.session_timeout_s,
  active: row.active === 1,
  identitySecret: row.identity_secret,
  requireVerifiedIdentity: row.require_verified_identity === 1,
  allowedQueryParams: JSON.parse(row.allowed_query_params) as string[],
  keepUrlFragments: row.keep_url_fragments === 1,
  previousPublicKey: row.previous_public_key,
  previousKeysExpireAt: row.previous_keys_expire_at,
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
    .prepare(`INSERT INTO event_sources (${COLUMNS}, secret_key_hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`)
    .bind(
      s.id,
      s.name,
      s.kind,
      JSON.stringify(s.allowedOrigins),
      s.publicKey,
      s.sessionTimeoutS,
      s.active ? 1 : 0,
      s.identitySecret,
      s.requireVerifiedIdentity ? 1 : 0,
      JSON.stringify(s.allowedQueryParams),
      s.keepUrlFragments ? 1 : 0,
      s.previousPublicKey,
      s.previousKeysExpireAt,
      s.createdAt,
      s.updatedAt,
      secretHash,
    )
    .run();
  return meta.changes === 1;
}

export const getSource = (db: D1Database, id: string) => one(db.prepare(`SELECT ${COLUMNS} FROM event_sources WHERE id = ?`).bind(id));

/** The source of a public key: its current one, or the one a rotation replaced while its grace lasts. */
export const findSourceByPublicKey = (db: D1Database, key: string, now: string) =>
  one(
    db
      .prepare(
        `SELECT ${COLUMNS} FROM event_sources WHERE public_key = ?1 UNION ALL SELECT ${COLUMNS} FROM event_sources WHERE previous_public_key = ?1 AND previous_keys_expire_at > ?2 LIMIT 1`,
      )
      .bind(key, now),
  );

/** The source of a secret key's hash, the same way. */
export const findSourceBySecretHash = (db: D1Database, hash: string, now: string) =>
  one(
    db
      .prepare(
        `SELECT ${COLUMNS} FROM event_sources WHERE secret_key_hash = ?1 UNION ALL SELECT ${COLUMNS} FROM event_sources WHERE previous_secret_key_hash = ?1 AND previous_keys_expire_at > ?2 LIMIT 1`,
      )
      .bind(hash, now),
  );

export async function listSources(db: D1Database): Promise<EventSource[]> {
  const { results } = await db.prepare(`SELECT ${COLUMNS} FROM event_sources ORDER BY id`).all<SourceRow>();
  return results.map(toSource);
}

/** Writes the mutable fields of a source. */
export async function updateSource(db: D1Database, s: EventSource): Promise<void> {
  await db
    .prepare(
      `UPDATE event_sources SET name = ?, allowed_origins = ?, session_timeout_s = ?, active = ?, require_verified_identity = ?,
       allowed_query_params = ?, keep_url_fragments = ?, updated_at = ? WHERE id = ?`,
    )
    .bind(
      s.name,
      JSON.stringify(s.allowedOrigins),
      s.sessionTimeoutS,
      s.active ? 1 : 0,
      s.requireVerifiedIdentity ? 1 : 0,
      JSON.stringify(s.allowedQueryParams),
      s.keepUrlFragments ? 1 : 0,
      s.updatedAt,
      s.id,
    )
    .run();
}

/** What a rotation changes: each key given is replaced; the replaced keys stay valid until `graceUntil`. */
export interface Rotation {
  publicKey?: string;
  secretHash?: string;
  identitySecret?: string;
  graceUntil: string;
  now: string;
}

/**
 * Replaces keys. The keys replaced become the previous ones (valid until `graceUntil`; an earlier
 * rotation's previous keys end now); a key not rotated keeps its place.
 */
export async function rotateKeys(db: D1Database, id: string, r: Rotation): Promise<void> {
  await db
    .prepare(
      `UPDATE event_sources SET
         previous_public_key = CASE WHEN ?1 IS NULL THEN NULL ELSE public_key END,
         previous_secret_key_hash = CASE WHEN ?2 IS NULL THEN NULL ELSE secret_key_hash END,
         previous_keys_expire_at = ?4,
         public_key = COALESCE(?1, public_key),
         secret_key_hash = COALESCE(?2, secret_key_hash),
         identity_secret = COALESCE(?3, identity_secret),
         updated_at = ?5
       WHERE id = ?6`,
    )
    .bind(r.publicKey ?? null, r.secretHash ?? null, r.identitySecret ?? null, r.graceUntil, r.now, id)
    .run();
}
