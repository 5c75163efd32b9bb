import type { WebEvent } from '../events/schema';
import type { OrderCursor, SessionRecord } from '../events/session-record';
import { jsonChunks, jsonOrNull, jsonUpsertSql, sameJson } from './json-upsert';
import { compareKeys, mergePages, onEveryShard } from './shards';

/** A web event as the session object hands it to D1: attributed, with its arrival order. */
export type EventRow = WebEvent & { arrival: number };

/**
 * The device and geo a session's events share (JSON text), kept on its row: an event row whose
 * own is the same holds '' instead (docs/design.md §4).
 */
export interface Shared {
  device: string | null;
  geo: string | null;
}
export const sharedOf = (event: WebEvent): Shared => ({ device: jsonOrNull(event.device), geo: jsonOrNull(event.geo) });

/**
 * An event's id in D1: its session's key (on that shard) and its arrival, so a session's events
 * are one id range. Arrivals stay far below 2^20: a session holds at most LIMITS.sessionEvents.
 */
const ARRIVAL_BITS = 20;
const sessionRange = (key: string) => `(${key} << ${ARRIVAL_BITS}) AND ((${key} << ${ARRIVAL_BITS}) | ${2 ** ARRIVAL_BITS - 1})`;

const STORED_EVENT_COLUMNS = [
  'id',
  'source_id',
  'event_id',
  'channel',
  'customer_id',
  'claimed_customer_id',
  'name',
  'occurred_at',
  'received_at',
  'seq',
  'context',
  'params',
  'page',
  'device',
  'geo',
  'flags',
] as const;
// The row's id from its session's key (?2, ?3, ?4: source, session, incarnation) and its arrival.
const UPSERT_EVENTS = jsonUpsertSql('web_events', STORED_EVENT_COLUMNS, ['id'], {
  expressions: {
    id: `((SELECT key FROM sessions WHERE source_id = ?2 AND session_id = ?3 AND incarnation = ?4) << ${ARRIVAL_BITS}) | json_extract(value, '$.arrival')`,
  },
});

/** The key of the session an event row belongs to, from the row's id (SQL over `id`). */
export const sessionKeyOf = (id: string) => `(${id} >> ${ARRIVAL_BITS})`;
/** web_events `e` with the session `s` each belongs to (either side found from the other by its key). */
export const EVENTS_WITH_SESSION = `web_events e JOIN sessions s ON s.key = ${sessionKeyOf('e.id')} AND e.id BETWEEN ${sessionRange('s.key')}`;
// In the order of the WebEvent object, so rows read back in the same shape as live reads.
const EVENT_FIELDS = `e.event_id, e.source_id, e.channel, s.session_id, e.customer_id, e.claimed_customer_id, e.name, e.occurred_at, e.received_at,
  e.seq, e.context, e.params, e.page, iif(e.device = '', s.device, e.device) AS device, iif(e.geo = '', s.geo, e.geo) AS geo, e.flags`;
const SELECT_EVENTS = `SELECT ${EVENT_FIELDS} FROM ${EVENTS_WITH_SESSION}`;

/** An event naming a customer other than its session's (SQL over its `flags` column; index web_events_conflicts). */
export const isConflict = (flags: string) => `instr(${flags}, 'identity_conflict') > 0`;
/**
 * The ids of the events attributed to customer ?: their sessions' id ranges, and their identity
 * conflicts in other sessions (three binds of the customer). No index of events by customer is kept.
 */
const CUSTOMER_EVENT_IDS = `SELECT ce.id FROM sessions cs JOIN web_events ce ON ce.id BETWEEN ${sessionRange('cs.key')}
  WHERE cs.customer_id = ? AND ce.customer_id = cs.customer_id
  UNION ALL SELECT id FROM web_events WHERE ${isConflict('flags')} AND customer_id = ?`;
const EVENT_JSON_COLUMNS = ['context', 'params', 'page', 'device', 'geo', 'flags'] as const;

const SESSION_COLUMNS = [
  'source_id',
  'session_id',
  'channel',
  'customer_id',
  'claimed_customer_id',
  'status',
  'started_at',
  'last_event_at',
  'last_received_at',
  'closed_at',
  'event_count',
  'landing_url',
  'referrer',
  'utm',
  'user_agent',
  'country',
  'deanonymized_at',
  'deanonymized_by',
  'identity_conflicts',
] as const;
/**
 * The session columns an index holds. A flush of an open session changes its counts and times
 * (no index holds them): its upsert leaves these alone, and they are set apart, only when they
 * differ (a customer linked, a claim, an earlier start).
 */
const INDEXED_SESSION_COLUMNS = ['customer_id', 'claimed_customer_id', 'started_at'] as const;
/**
 * What every event of a session changes. An open session's row keeps them as of its last other
 * change (its customer linked, a claim, a conflict, its close: docs/cost.md), so a flush that only
 * adds events writes their rows alone; reads take an open session's from its events (LIVE_COUNTS).
 */
const COUNTS = ['event_count', 'last_event_at', 'last_received_at'] as const;
const UPSERT_SESSION = jsonUpsertSql('sessions', [...SESSION_COLUMNS, 'incarnation', 'device', 'geo'], ['source_id', 'session_id', 'incarnation'], {
  insertOnly: INDEXED_SESSION_COLUMNS,
  lazy: { columns: COUNTS, when: "excluded.status <> 'open'" },
});
/** Milliseconds (SQL) as ISO 8601 text, as `toISOString` writes it. */
const isoSql = (ms: string) => `strftime('%Y-%m-%dT%H:%M:%fZ', ${ms} / 1000.0, 'unixepoch')`;
/** Of the events of the session `sessions` (SQL): an aggregate, null when it has none. */
const ofItsEvents = (aggregate: string) => `(SELECT ${aggregate} FROM web_events WHERE id BETWEEN ${sessionRange('sessions.key')})`;
/** An open session's counts and times as its events have them (its row has them as of its last other change). */
const LIVE_COUNTS: Record<string, string> & Record<(typeof COUNTS)[number], string> = {
  event_count: `max(event_count, ${ofItsEvents('count(*)')})`,
  last_event_at: `max(last_event_at, coalesce(${ofItsEvents(isoSql('max(occurred_at)'))}, ''))`,
  last_received_at: `nullif(max(coalesce(last_received_at, ''), coalesce(${ofItsEvents(isoSql('max(received_at)'))}, '')), '')`,
};
const SELECT_SESSIONS = `SELECT ${SESSION_COLUMNS.map((c) => (LIVE_COUNTS[c] ? `iif(status = 'open', ${LIVE_COUNTS[c]}, ${c}) AS ${c}` : c)).join(', ')} FROM sessions`;
const UPDATE_INDEXED_SESSION_COLUMNS = `UPDATE sessions SET (${INDEXED_SESSION_COLUMNS.join(', ')}) = (?4, ?5, ?6)
  WHERE source_id = ?1 AND session_id = ?2 AND incarnation = ?3 AND (${INDEXED_SESSION_COLUMNS.join(', ')}) IS NOT (?4, ?5, ?6)`;

/** An event as its row stores it: times in ms, a device or geo the session shares as ''. */
function storedEvent(e: EventRow, shared: Shared | undefined) {
  // A null device or geo stays null on the row ('' would read the same).
  const same = (value: unknown, text: string | null | undefined) => value != null && sameJson(value, text ?? null);
  return {
    arrival: e.arrival,
    source_id: e.source_id,
    event_id: e.event_id,
    channel: e.channel,
    customer_id: e.customer_id,
    claimed_customer_id: e.claimed_customer_id,
    name: e.name,
    occurred_at: Date.parse(e.occurred_at),
    received_at: Date.parse(e.received_at),
    seq: e.seq,
    context: e.context,
    params: e.params,
    page: e.page,
    device: same(e.device, shared?.device) ? '' : e.device,
    geo: same(e.geo, shared?.geo) ? '' : e.geo,
    flags: e.flags,
  };
}

/** Which life of a session id a write is for, and what its events share. */
export interface Written {
  /** When its object stored its first event (ms); 0 for a session from before incarnations. */
  incarnation: number;
  shared?: Shared;
}

/**
 * Writes a session record and its changed events in one D1 batch (one transaction). Upserts
 * keyed by session, incarnation and arrival, so writing the same records twice changes nothing.
 */
export async function writeSession(db: D1Database, session: SessionRecord, events: readonly EventRow[], w: Written): Promise<RowsWritten> {
  const row = { ...session, incarnation: w.incarnation, device: w.shared?.device ?? null, geo: w.shared?.geo ?? null };
  const statements = [
    db.prepare(UPSERT_SESSION).bind(JSON.stringify([row])),
    db.prepare(UPDATE_INDEXED_SESSION_COLUMNS).bind(session.source_id, session.session_id, w.incarnation, ...INDEXED_SESSION_COLUMNS.map((c) => session[c])),
  ];
  for (const chunk of jsonChunks(events.map((e) => storedEvent(e, w.shared))))
    statements.push(db.prepare(UPSERT_EVENTS).bind(chunk, session.source_id, session.session_id, w.incarnation));
  const [upserted, updated, ...eventResults] = await db.batch(statements);
  return {
    sessions: upserted!.meta.rows_written + updated!.meta.rows_written,
    events: eventResults.reduce((n, r) => n + r.meta.rows_written, 0),
  };
}

/** The rows (index entries included) a write cost, as D1 reports them: the billed unit. */
export interface RowsWritten {
  sessions: number;
  events: number;
}

type Row = Record<string, unknown>;

function parseJsonColumns<T>(row: Row, columns: readonly string[]): T {
  const out: Row = { ...row };
  for (const c of columns) out[c] = typeof row[c] === 'string' ? JSON.parse(row[c]) : null;
  return out as T;
}

const iso = (ms: unknown) => new Date(Number(ms)).toISOString();

/** D1 row to web event: JSON columns parsed, times back to ISO 8601. */
export function toWebEvent(row: Row): WebEvent {
  const event = parseJsonColumns<Row>(row, EVENT_JSON_COLUMNS);
  return { ...event, occurred_at: iso(row.occurred_at), received_at: iso(row.received_at) } as WebEvent;
}

/** D1 row to session record: its columns only (not the key, incarnation, device or geo), utm parsed. */
export const toSessionRecord = (row: Row): SessionRecord =>
  parseJsonColumns<SessionRecord>(Object.fromEntries(SESSION_COLUMNS.map((c) => [c, row[c]])), ['utm']);

export interface WebEventFilter {
  sessionId?: string;
  customerId?: string;
  name?: string;
  from?: string;
  to?: string;
  after?: Cursor;
  limit: number;
}

/** Keyset position in (occurred_at, session_id, event_id) order. */
export type Cursor = [occurredAt: string, sessionId: string, eventId: string];

/** A source's events in time order, filtered, one page at a time: every shard's page, merged. */
export async function listWebEvents(env: Env, sourceId: string, f: WebEventFilter) {
  const pages = await onEveryShard(env, (db) => listWebEventsOn(db, sourceId, f));
  const { rows: events, more } = mergePages(pages, (a, b) => compareKeys(eventKey(a), eventKey(b)), f.limit);
  const last = events.at(-1);
  return { events, next: more && last ? eventKey(last) : null };
}

/**
 * The same filter and order over one session's events as its object holds them (the list with a
 * session_id is read there: an anonymous session's events are not in D1).
 */
export function filterWebEvents(events: readonly WebEvent[], f: WebEventFilter) {
  const kept = events
    .filter(
      (e) =>
        (!f.customerId || e.customer_id === f.customerId) &&
        (!f.name || e.name === f.name) &&
        (!f.from || e.occurred_at >= f.from) &&
        (!f.to || e.occurred_at < f.to) &&
        (!f.after || compareKeys(eventKey(e), f.after) > 0),
    )
    .sort((a, b) => compareKeys(eventKey(a), eventKey(b)));
  const page = kept.slice(0, f.limit);
  const last = page.at(-1);
  return { events: page, next: kept.length > f.limit && last ? eventKey(last) : null };
}

const eventKey = (e: WebEvent): Cursor => [e.occurred_at, e.session_id, e.event_id];

async function listWebEventsOn(db: D1Database, sourceId: string, f: WebEventFilter): Promise<WebEvent[]> {
  const where = ['e.source_id = ?'];
  const binds: unknown[] = [sourceId];
  const add = (clause: string, ...values: unknown[]) => {
    where.push(clause);
    binds.push(...values);
  };
  if (f.sessionId) add('s.source_id = ? AND s.session_id = ?', sourceId, f.sessionId);
  if (f.customerId) add(`e.id IN (${CUSTOMER_EVENT_IDS})`, f.customerId, f.customerId);
  if (f.name) add('e.name = ?', f.name);
  if (f.from) add('e.occurred_at >= ?', Date.parse(f.from));
  if (f.to) add('e.occurred_at < ?', Date.parse(f.to));
  if (f.after) add('(e.occurred_at, s.session_id, e.event_id) > (?, ?, ?)', Date.parse(f.after[0]), f.after[1], f.after[2]);
  // With a session or a customer, their rows and then their id ranges find their few events;
  // without the `+`, SQLite (D1 keeps no ANALYZE statistics) picks the (source_id, occurred_at)
  // index for the order and reads the whole source.
  const order = f.sessionId || f.customerId ? '+e.occurred_at' : 'e.occurred_at';
  const { results } = await db
    .prepare(`${SELECT_EVENTS} WHERE ${where.join(' AND ')} ORDER BY ${order}, s.session_id, e.event_id LIMIT ?`)
    .bind(...binds, f.limit + 1)
    .all<Row>();
  return results.map(toWebEvent);
}

/**
 * A customer's sessions on one source, the most recent first (every shard asked: one added later
 * holds their newer ones). Found by customer (index sessions_identified) and sorted: no index
 * holds last_event_at, which an open session's events change (taken from them: LIVE_COUNTS).
 */
export async function customerSessions(env: Env, sourceId: string, customerId: string, limit: number, before?: [string, string]) {
  const after = before ? 'WHERE (last_event_at, session_id) < (?, ?)' : '';
  const pages = await onEveryShard(env, async (db) => {
    const { results } = await db
      .prepare(`SELECT * FROM (${SELECT_SESSIONS} WHERE customer_id = ? AND +source_id = ?) ${after} ORDER BY last_event_at DESC, session_id DESC LIMIT ?`)
      .bind(customerId, sourceId, ...(before ?? []), limit + 1)
      .all<Row>();
    return results.map(toSessionRecord);
  });
  const key = (s: SessionRecord): [string, string] => [s.last_event_at, s.session_id];
  const { rows: sessions, more } = mergePages(pages, (a, b) => compareKeys(key(b), key(a)), limit);
  const last = sessions.at(-1);
  return { sessions, next: more && last ? key(last) : null };
}

/**
 * An identified session as D1 holds it, with a page of its events in session order (rule 2):
 * the latest life of the session id, on whichever shard. For a session whose object is gone
 * (past its object's days); null when D1 has none (an anonymous session past its object is past
 * its retention: the purge deletes its row).
 */
export async function sessionFromD1(env: Env, sourceId: string, sessionId: string, after: OrderCursor | undefined, limit: number) {
  const found = await onEveryShard(env, async (db) => {
    const row = await db
      .prepare('SELECT * FROM sessions WHERE source_id = ? AND session_id = ? AND customer_id IS NOT NULL ORDER BY incarnation DESC LIMIT 1')
      .bind(sourceId, sessionId)
      .first<Row & { key: number; incarnation: number }>();
    return row ? { db, row } : null;
  });
  const latest = found.reduce<(typeof found)[number]>((a, b) => (b && (!a || b.row.incarnation > a.row.incarnation) ? b : a), null);
  if (!latest) return null;
  const order = 'e.occurred_at, coalesce(e.seq, 9007199254740991), e.id';
  const from = after ? `AND (${order}) > (?2, ?3, (?1 << ${ARRIVAL_BITS}) | ?4)` : '';
  const { results } = await latest.db
    .prepare(
      `SELECT ${EVENT_FIELDS}, e.id & ${2 ** ARRIVAL_BITS - 1} AS arrival FROM ${EVENTS_WITH_SESSION} WHERE s.key = ?1 ${from} ORDER BY ${order} LIMIT ${Math.trunc(limit) + 1}`,
    )
    .bind(latest.row.key, ...(after ? [Date.parse(after[0]), Number(after[1]), Number(after[2])] : []))
    .all<Row>();
  const events = results.slice(0, limit).map(({ arrival: _, ...row }) => toWebEvent(row));
  const last = events.at(-1);
  const next: OrderCursor | null =
    results.length > limit && last ? [last.occurred_at, String(last.seq ?? Number.MAX_SAFE_INTEGER), String(results[limit - 1]!.arrival)] : null;
  return { session: toSessionRecord(latest.row), incarnation: latest.row.incarnation, events, next };
}

export interface SessionKey {
  source_id: string;
  session_id: string;
}

/**
 * Deletes these sessions with their events in one transaction. `where` (SQL over `sessions`, its
 * values from ?2 on) is re-checked by each DELETE itself: a session that no longer meets it keeps
 * its rows. Returns the sessions deleted.
 */
export async function deleteSessions(db: D1Database, keys: readonly SessionKey[], where = 'true', ...values: unknown[]): Promise<number> {
  if (!keys.length) return 0;
  const still = `SELECT key FROM sessions WHERE ${where} AND (source_id, session_id) IN
    (SELECT json_extract(value, '$.source_id'), json_extract(value, '$.session_id') FROM json_each(?1))`;
  const list = JSON.stringify(keys);
  const [, sessions] = await db.batch([
    // Each session's events are one id range: found by the primary key, not by a scan.
    db
      .prepare(`DELETE FROM web_events WHERE id IN (SELECT e.id FROM (${still}) k JOIN web_events e ON e.id BETWEEN ${sessionRange('k.key')})`)
      .bind(list, ...values),
    db.prepare(`DELETE FROM sessions WHERE key IN (${still})`).bind(list, ...values),
  ]);
  return sessions!.meta.changes;
}
