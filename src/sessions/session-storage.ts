import type { WebEvent } from '../events/schema';
import type { OrderCursor, SessionRecord } from '../events/session-record';
import { sameJson } from '../storage/json-upsert';
import type { Shared } from '../storage/records';
import type { TriggerMessage } from '../triggers/session-triggers';

/**
 * The session object's own SQLite: its schema, migrated when the object wakes, and every
 * statement the object runs (docs/design.md, "Storage").
 *
 * - `events`: keyed by `arrival` (the rowid, from 1; each call numbers its events on from the
 *   rows' last): one b-tree, so one row written per event (docs/cost.md). No index on
 *   `event_id`: a batch's repeats are found among the ids read once (`seen`; rows read cost
 *   a thousandth of rows written), session order is sorted when asked, and a flush takes a rowid
 *   range.
 * - The object's state (the session record and the object's bookkeeping, see SessionObject) is
 *   in its first event's row, column `session_state`: a table of its own would cost its creation
 *   (2 rows) and a page for one row, and a row of its own a row written with the first event. The
 *   first event stores the state the session starts from; the object writes it again only when
 *   it changes in a way the events after it cannot replay (docs/cost.md). An object whose first
 *   event was erased keeps it in row 0 instead.
 * - `outbox`: fired triggers not yet on the queue, made when a trigger first fires.
 *
 * An event's row leaves out what it has in common with its session (`Common`: the ids, the
 * channel, the device and geo of its first event), its empty fields and its id (a column of its
 * own), and gets them back when read: about half of a tracker event's JSON, so fewer pages and
 * less to write (docs/cost.md).
 *
 * A new object makes its table with its first event, and one that forgot (retention, erasure)
 * holds none: Durable Object storage is billed by the database's pages, and an empty table is a
 * page (docs/cost.md). This is the only schema there has been: from 1.0.0 on, a change to it
 * ships with its migration here (CHANGELOG.md).
 */

/** The arrival of row 0, which holds the state once the first event that held it was erased (the events' are from 1). */
const STATE_ROW = 0;

const EVENTS = `CREATE TABLE IF NOT EXISTS events (
  arrival INTEGER PRIMARY KEY,
  event_id TEXT NOT NULL,
  body TEXT NOT NULL,
  session_state TEXT
)`;
const OUTBOX = 'CREATE TABLE IF NOT EXISTS outbox (id INTEGER PRIMARY KEY, body TEXT NOT NULL)';

/** Session order (docs/design.md, rule 2): occurred_at, then seq (absent last), then arrival. */
const ORDER_KEY = "body ->> '$.occurred_at', coalesce(body ->> '$.seq', 9007199254740991), arrival";

/** An event's row as read. */
type Row = { arrival: number; event_id: string; body: string };

/** What every event of a session shares, fixed by its first event: its stored rows leave it out. */
export interface Common {
  source_id: string;
  session_id: string;
  channel: WebEvent['channel'];
  /** The device and geo of its first event, as JSON text (D1's rows share them the same way). */
  shared: Shared;
}
export const commonOf = (record: SessionRecord, shared: Shared): Common => ({
  source_id: record.source_id,
  session_id: record.session_id,
  channel: record.channel,
  shared,
});

const parseOrNull = (text: string | null) => (text === null ? null : JSON.parse(text));

/** An event as its row holds it: what its session has in common, and its empty fields, left out. */
function compact(event: WebEvent, c: Common): Partial<WebEvent> {
  const row: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(event)) if (!implied(key, value, c)) row[key] = value;
  return row as Partial<WebEvent>;
}

/** Whether an event's field goes without saying in its row (`expand` puts it back). */
function implied(key: string, value: unknown, c: Common): boolean {
  switch (key) {
    case 'event_id':
      return true; // its own column
    case 'source_id':
    case 'session_id':
    case 'channel':
      return value === c[key];
    case 'device':
    case 'geo':
      return sameJson(value, c.shared[key]);
    case 'flags':
      return (value as unknown[]).length === 0;
    default:
      return value === null;
  }
}

/** An event from its row: what was left out put back. */
function expand(row: Partial<WebEvent>, eventId: string, c: Common): WebEvent {
  return {
    event_id: eventId,
    source_id: c.source_id,
    channel: c.channel,
    session_id: c.session_id,
    customer_id: null,
    claimed_customer_id: null,
    name: row.name!,
    occurred_at: row.occurred_at!,
    received_at: row.received_at!,
    seq: null,
    context: null,
    params: null,
    page: null,
    device: 'device' in row ? row.device! : parseOrNull(c.shared.device),
    geo: 'geo' in row ? row.geo! : parseOrNull(c.shared.geo),
    flags: [],
    ...row,
  };
}

/**
 * Event ids an instance keeps in memory at most once read (a beacon then checks its id without a
 * scan); a session with more is scanned for each batch.
 */
const KNOWN_IDS = 2_000;

/** Keeps outbox messages at most; beyond, the oldest are dropped (and logged): a runaway rule cannot fill the object. */
const MAX_OUTBOX = 10_000;

export class SessionStorage {
  /** Messages in the outbox, counted once and then kept up to date (most objects never have one). */
  private waiting: number | undefined;
  /** Whether the tables are there (false: a new object, or one that forgot). */
  private ready = false;
  private hasOutbox = false;
  /** The arrival of the row whose `session_state` holds the state (undefined: row 0 does, or none). */
  private stateAt: number | undefined;
  /** What the session's events share (see `Common`), set by the object from its state before any event is stored or read. */
  common: Common | undefined;
  /**
   * The stored events' ids and last arrival, once read (this instance is their only writer, so
   * it keeps them as it writes); undefined: not read yet; null: more than KNOWN_IDS.
   */
  private known: { ids: Set<string>; last: number } | null | undefined;

  constructor(private readonly sql: SqlStorage) {}

  /** Finds which tables the storage holds; false when it holds nothing (docs/cost.md: a new object reads and writes nothing more). */
  open(): boolean {
    const tables = new Set(
      this.sql
        .exec<{ name: string }>("SELECT name FROM sqlite_master WHERE type = 'table' AND name IN ('events', 'outbox')")
        .toArray()
        .map((r) => r.name),
    );
    this.hasOutbox = tables.has('outbox');
    this.waiting = this.hasOutbox ? undefined : 0;
    this.ready = tables.has('events');
    return this.ready;
  }

  /** After everything was deleted: the storage holds nothing, and makes its tables again with the next event. */
  forgot(): void {
    this.ready = false;
    this.common = undefined;
    this.known = undefined;
    this.stateAt = undefined;
    this.hasOutbox = false;
    this.waiting = 0;
  }

  /** The table, made with the first write. */
  private ensure(): void {
    if (this.ready) return;
    this.sql.exec(EVENTS);
    this.ready = true;
    this.known = { ids: new Set(), last: 0 }; // a new table holds no event
  }

  /** The stored state (its first event's row, or row 0: see the class comment); null for none. */
  readState(): unknown {
    if (!this.ready) return null;
    const row =
      this.sql.exec<{ arrival: number; body: string }>('SELECT arrival, body FROM events WHERE arrival = ?', STATE_ROW).toArray()[0] ??
      this.sql
        .exec<{ arrival: number; body: string }>('SELECT arrival, session_state AS body FROM events WHERE session_state IS NOT NULL ORDER BY arrival LIMIT 1')
        .toArray()[0];
    if (row && row.arrival !== STATE_ROW) this.stateAt = row.arrival;
    return row ? JSON.parse(row.body) : null;
  }

  /** Writes the state where it is kept: its first event's row, or row 0 (one row written either way). */
  writeState(state: string): void {
    if (this.stateAt !== undefined) {
      this.sql.exec('UPDATE events SET session_state = ? WHERE arrival = ?', state, this.stateAt);
      return;
    }
    this.ensure();
    this.sql.exec("INSERT INTO events (arrival, event_id, body) VALUES (?1, '', ?2) ON CONFLICT (arrival) DO UPDATE SET body = ?2", STATE_ROW, state);
  }

  /**
   * Which of these event ids are stored already, and the last arrival (a batch's arrivals are
   * numbered on from it): from memory once read (one scan of the session's events for an
   * instance's first batch), else (a session past KNOWN_IDS) one scan for a whole batch.
   */
  seen(ids: readonly string[]): { stored: Set<string>; last: number } {
    if (!this.ready) return { stored: new Set(), last: 0 };
    const known = this.knownIds();
    if (known) return { stored: new Set(ids.filter((id) => known.ids.has(id))), last: known.last };
    const rows = this.sql.exec<{ event_id: string }>(
      'SELECT event_id FROM events WHERE arrival > 0 AND event_id IN (SELECT value FROM json_each(?))',
      JSON.stringify(ids),
    );
    return { stored: new Set(rows.toArray().map((r) => r.event_id)), last: this.lastArrival() };
  }

  /**
   * Stores a new event at `arrival` (the caller has checked it is not stored yet, and numbers a
   * batch's arrivals on from `seen`'s last: no RETURNING, which costs SQLite a result table).
   * A new session's first event comes with the state it starts from (before the event, as JSON):
   * its row keeps it, and the state is not written again until it changes in a way the events
   * cannot replay.
   */
  insertEvent(event: WebEvent, arrival: number, start?: string): void {
    this.ensure();
    if (start !== undefined) {
      const sql = 'INSERT INTO events (arrival, event_id, body, session_state) VALUES (?, ?, ?, ?)';
      this.sql.exec(sql, arrival, event.event_id, this.body(event), start);
      this.stateAt = arrival;
    } else this.sql.exec('INSERT INTO events (arrival, event_id, body) VALUES (?, ?, ?)', arrival, event.event_id, this.body(event));
    this.remember(event, arrival);
  }

  private remember(event: WebEvent, arrival: number): void {
    const known = this.known;
    if (!known) return;
    known.ids.add(event.event_id);
    known.last = Math.max(known.last, arrival);
    if (known.ids.size > KNOWN_IDS) this.known = null;
  }

  /** The stored events' ids and last arrival (see `known`), read once; null past KNOWN_IDS. */
  private knownIds(): { ids: Set<string>; last: number } | null {
    if (this.known !== undefined) return this.known;
    const rows = this.sql
      .exec<{ arrival: number; event_id: string }>('SELECT arrival, event_id FROM events WHERE arrival > 0 LIMIT ?', KNOWN_IDS + 1)
      .toArray();
    this.known = rows.length > KNOWN_IDS ? null : { ids: new Set(rows.map((r) => r.event_id)), last: rows.reduce((n, r) => Math.max(n, r.arrival), 0) };
    return this.known;
  }

  private body(event: WebEvent): string {
    return JSON.stringify(compact(event, this.shared()));
  }

  private event(row: Row): WebEvent {
    return expand(JSON.parse(row.body) as Partial<WebEvent>, row.event_id, this.shared());
  }

  private shared(): Common {
    if (!this.common) throw new Error('the session object stores or reads an event before its state');
    return this.common;
  }

  /** Events stored after `arrival` (0: all of them), in arrival order, at most `limit`. */
  eventsAfter(arrival: number, limit = Number.MAX_SAFE_INTEGER): { arrival: number; event: WebEvent }[] {
    if (!this.ready) return [];
    return this.sql
      .exec<Row>('SELECT arrival, event_id, body FROM events WHERE arrival > ? ORDER BY arrival LIMIT ?', arrival, limit)
      .toArray()
      .map((r) => ({ arrival: r.arrival, event: this.event(r) }));
  }

  lastArrival(): number {
    if (!this.ready) return 0;
    return this.sql.exec<{ a: number | null }>('SELECT max(arrival) AS a FROM events').one().a ?? 0;
  }

  /** A page of events in session order, after `cursor`, and the cursor of the next page (null at the end). */
  eventsInOrder(cursor: OrderCursor | undefined, limit: number): { events: WebEvent[]; next: OrderCursor | null } {
    const after = cursor ? `AND (${ORDER_KEY}) > (?, ?, ?)` : '';
    const binds = cursor ? [cursor[0], Number(cursor[1]), Number(cursor[2])] : [];
    const rows = this.sql
      .exec<Row>(`SELECT arrival, event_id, body FROM events WHERE arrival > 0 ${after} ORDER BY ${ORDER_KEY} LIMIT ?`, ...binds, limit + 1)
      .toArray();
    const events = rows.slice(0, limit).map((r) => this.event(r));
    const last = events.at(-1);
    const next: OrderCursor | null =
      rows.length > limit && last ? [last.occurred_at, String(last.seq ?? Number.MAX_SAFE_INTEGER), String(rows[limit - 1]!.arrival)] : null;
    return { events, next };
  }

  /** The events that name this customer, verified or as a claim (an erasure in another session). */
  eventsNaming(customerId: string): { arrival: number; event: WebEvent }[] {
    return this.sql
      .exec<Row>(
        "SELECT arrival, event_id, body FROM events WHERE arrival > 0 AND (body ->> '$.customer_id' = ?1 OR body ->> '$.claimed_customer_id' = ?1) ORDER BY arrival",
        customerId,
      )
      .toArray()
      .map((r) => ({ arrival: r.arrival, event: this.event(r) }));
  }

  /** Deletes these events; when one held the state, the next `writeState` puts it in row 0. */
  deleteEvents(arrivals: readonly number[]): void {
    this.known = undefined;
    if (this.stateAt !== undefined && arrivals.includes(this.stateAt)) this.stateAt = undefined;
    this.sql.exec('DELETE FROM events WHERE arrival IN (SELECT value FROM json_each(?))', JSON.stringify(arrivals));
  }

  eventsById(ids: readonly string[]): WebEvent[] {
    return this.sql
      .exec<Row>(
        'SELECT arrival, event_id, body FROM events WHERE arrival > 0 AND event_id IN (SELECT value FROM json_each(?)) ORDER BY arrival',
        JSON.stringify(ids),
      )
      .toArray()
      .map((r) => this.event(r));
  }

  hasEventNamed(name: string): boolean {
    return this.sql.exec("SELECT 1 FROM events WHERE arrival > 0 AND body ->> '$.name' = ? LIMIT 1", name).toArray().length > 0;
  }

  addToOutbox(messages: readonly TriggerMessage[]): void {
    if (!messages.length) return;
    if (!this.hasOutbox) {
      this.sql.exec(OUTBOX);
      this.hasOutbox = true;
    }
    for (const m of messages) this.sql.exec('INSERT INTO outbox (body) VALUES (?)', JSON.stringify(m));
    this.waiting = undefined;
    const over = this.outboxSize() - MAX_OUTBOX;
    if (over > 0) {
      this.sql.exec('DELETE FROM outbox WHERE id IN (SELECT id FROM outbox ORDER BY id LIMIT ?)', over);
      this.waiting = MAX_OUTBOX;
      console.error(JSON.stringify({ message: 'trigger outbox full: oldest dropped', dropped: over }));
    }
  }

  outboxSize(): number {
    if (!this.hasOutbox) return 0;
    return (this.waiting ??= this.sql.exec<{ n: number }>('SELECT count(*) AS n FROM outbox').one().n);
  }

  /** The oldest waiting messages, at most `limit`. */
  outboxHead(limit: number): { id: number; message: TriggerMessage }[] {
    if (!this.hasOutbox) return [];
    return this.sql
      .exec<{ id: number; body: string }>('SELECT id, body FROM outbox ORDER BY id LIMIT ?', limit)
      .toArray()
      .map((r) => ({ id: r.id, message: JSON.parse(r.body) as TriggerMessage }));
  }

  removeFromOutbox(upToId: number): void {
    if (!this.hasOutbox) return;
    this.sql.exec('DELETE FROM outbox WHERE id <= ?', upToId);
    this.waiting = undefined;
  }
}
