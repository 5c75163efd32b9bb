/**
 * The session object's own SQLite schema, versioned in `schema_version` and migrated in the
 * constructor (DESIGN §5).
 *
 * v2 keeps two b-trees per event, as few as a deduplicated insert allows: the table keyed by
 * `arrival` (the rowid) and the unique `event_id` index that deduplicates. What v1 indexed
 * (session order, rows changed since the last flush) is cheaper found without an index: a
 * session's events are read in order rarely and few at a time, and a flush takes the rows after
 * the last arrival D1 holds, which is a rowid range.
 */
export const SCHEMA_VERSION = 2;

const EVENTS_V2 = `CREATE TABLE IF NOT EXISTS events (
  arrival INTEGER PRIMARY KEY,
  event_id TEXT NOT NULL UNIQUE,
  body TEXT NOT NULL
)`;

const SCHEMA = `
  CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL);
  CREATE TABLE IF NOT EXISTS state (id INTEGER PRIMARY KEY CHECK (id = 1), body TEXT NOT NULL);
`;

/** v1 → v2: the events keep their arrival and body; the order and change columns go. */
const V1_TO_V2 = `
  ${EVENTS_V2.replace('events', 'events_v2')};
  INSERT INTO events_v2 (arrival, event_id, body) SELECT arrival, event_id, body FROM events ORDER BY arrival;
  DROP TABLE events;
  ALTER TABLE events_v2 RENAME TO events;
`;

/** Brings an object's storage to SCHEMA_VERSION; a new object gets it directly. */
export function migrateStorage(sql: SqlStorage): void {
  sql.exec(SCHEMA);
  const version = sql.exec<{ version: number }>('SELECT version FROM schema_version').toArray()[0]?.version;
  if (version === SCHEMA_VERSION) return;
  if (version === 1) sql.exec(V1_TO_V2);
  else sql.exec(EVENTS_V2);
  sql.exec('DELETE FROM schema_version');
  sql.exec('INSERT INTO schema_version (version) VALUES (?)', SCHEMA_VERSION);
}
