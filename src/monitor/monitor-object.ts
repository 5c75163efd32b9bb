import { DurableObject } from 'cloudflare:workers';

/**
 * One source's monitor (docs/console.md): what the console shows of it.
 *
 * - The live events: the last 500, broadcast to whoever watches over a hibernating WebSocket.
 *   The worker sends events here only while someone watches.
 * - The recent rejections: 7 days, at most 10,000; the console and the REST API read them.
 * - Per-minute counters for a day: accepted, duplicate, rejected by reason, bots dropped,
 *   webhooks delivered, retried and dead-lettered, failed D1 writes; and the last event seen.
 *
 * The worker, the session objects and the queue consumer add to them in batches (monitor/feed.ts).
 */

export interface Rejection {
  at: string;
  /** The customer the refused event named (its customer id, or the protocol's user id), for an erasure. */
  customer: string | null;
  channel: string;
  code: string;
  message: string;
  paths: string[];
  /** The event as sent, cut to 4 KB (monitor/feed.ts). */
  payload: string;
}

/** An accepted event, as the live view shows it (the web event). */
export interface LiveEvent {
  customer_id: string | null;
  claimed_customer_id: string | null;
  received_at: string;
}

/** What a feeder sends: counts by kind, the last event's time, rejections, and (while watched) events. */
export interface MonitorBatch {
  counts: Record<string, number>;
  lastEventAt: string | null;
  rejections: Rejection[];
  events: LiveEvent[];
}

export const LIVE_EVENTS = 500;
export const REJECTIONS_KEPT = 10_000;
export const REJECTIONS_DAYS = 7;
const MINUTE = 60_000;
const DAY = 86_400_000;

const SCHEMA = `
  CREATE TABLE IF NOT EXISTS rejections (id INTEGER PRIMARY KEY, at TEXT NOT NULL, customer TEXT, body TEXT NOT NULL);
  CREATE TABLE IF NOT EXISTS counters (minute INTEGER NOT NULL, kind TEXT NOT NULL, n INTEGER NOT NULL, PRIMARY KEY (minute, kind)) WITHOUT ROWID;
  CREATE TABLE IF NOT EXISTS live (id INTEGER PRIMARY KEY, customer TEXT, body TEXT NOT NULL);
  CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
`;

export class SourceMonitor extends DurableObject<Env> {
  private readonly sql = this.ctx.storage.sql;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.sql.exec(SCHEMA);
    // A console's keep-alive is answered without waking the object.
    ctx.setWebSocketAutoResponse(new WebSocketRequestResponsePair('ping', 'pong'));
  }

  /** The consoles still open, but `leaving` (one that is closing). */
  private watchers(leaving?: WebSocket): WebSocket[] {
    return this.ctx.getWebSockets().filter((ws) => ws !== leaving && ws.readyState === WebSocket.OPEN);
  }

  /** Adds a feeder's batch; answers whether anyone watches, so the feeder knows whether to send events. */
  async record(batch: MonitorBatch): Promise<{ watching: boolean }> {
    const minute = Math.floor(Date.now() / MINUTE) * MINUTE;
    for (const [kind, n] of Object.entries(batch.counts))
      if (n) this.sql.exec('INSERT INTO counters (minute, kind, n) VALUES (?, ?, ?) ON CONFLICT DO UPDATE SET n = n + excluded.n', minute, kind, n);
    if (batch.lastEventAt)
      this.sql.exec(
        "INSERT INTO meta (key, value) VALUES ('last_event_at', ?) ON CONFLICT DO UPDATE SET value = max(value, excluded.value)",
        batch.lastEventAt,
      );
    for (const r of batch.rejections) this.sql.exec('INSERT INTO rejections (at, customer, body) VALUES (?, ?, ?)', r.at, r.customer, JSON.stringify(r));
    if (batch.rejections.length) this.sql.exec('DELETE FROM rejections WHERE id <= (SELECT max(id) FROM rejections) - ?', REJECTIONS_KEPT);
    const sockets = this.watchers();
    const shown: [unknown, string | null][] = [
      ...batch.events.map((e): [unknown, string | null] => [e, e.customer_id ?? e.claimed_customer_id ?? null]),
      ...batch.rejections.map((r): [unknown, string | null] => [{ rejected: r }, r.customer]),
    ];
    if (sockets.length && shown.length) {
      for (const [item, customer] of shown) this.sql.exec('INSERT INTO live (customer, body) VALUES (?, ?)', customer, JSON.stringify(item));
      this.sql.exec('DELETE FROM live WHERE id <= (SELECT max(id) FROM live) - ?', LIVE_EVENTS);
      const message = JSON.stringify({ type: 'events', items: shown.map(([item]) => item) });
      for (const ws of sockets) {
        try {
          ws.send(message);
        } catch {
          // closing meanwhile: its close handler tidies up
        }
      }
    }
    if (batch.rejections.length || Object.keys(batch.counts).length) await this.pruneLater();
    return { watching: sockets.length > 0 };
  }

  /** A console's WebSocket (the worker checked its key): the last events first, then each as it comes. */
  override async fetch(request: Request): Promise<Response> {
    if (request.headers.get('upgrade') !== 'websocket') return new Response('expected a WebSocket', { status: 426 });
    const [client, server] = Object.values(new WebSocketPair()) as [WebSocket, WebSocket];
    this.ctx.acceptWebSocket(server);
    const items = this.sql
      .exec<{ body: string }>('SELECT body FROM live ORDER BY id')
      .toArray()
      .map((r) => JSON.parse(r.body) as unknown);
    server.send(JSON.stringify({ type: 'events', items }));
    return new Response(null, { status: 101, webSocket: client });
  }

  override async webSocketClose(ws: WebSocket): Promise<void> {
    this.leave(ws);
  }

  override async webSocketError(ws: WebSocket): Promise<void> {
    this.leave(ws);
  }

  private leave(ws: WebSocket): void {
    try {
      ws.close(1000, 'closing');
    } catch {
      // already closed
    }
    // Nobody watching: the live buffer goes (it is for watchers only).
    if (!this.watchers(ws).length) this.sql.exec('DELETE FROM live');
  }

  /**
   * An erasure (docs/privacy.md): the rejections and live items that name the customer anywhere
   * in what was sent (a Segment `anonymousId`, a PostHog `properties.distinct_id`, a numeric
   * `userId`), or belong to one of their sessions (events from before the login too). Returns how many.
   */
  forgetCustomer(customerId: string, sessionIds: readonly string[] = []): number {
    const named = new Set([customerId, ...sessionIds]);
    let forgotten = 0;
    for (const table of ['rejections', 'live'] as const) {
      const rows = this.sql.exec<{ id: number; customer: string | null; body: string }>(`SELECT id, customer, body FROM ${table}`).toArray();
      for (const row of rows)
        if (row.customer === customerId || names(JSON.parse(row.body), named)) {
          this.sql.exec(`DELETE FROM ${table} WHERE id = ?`, row.id);
          forgotten += 1;
        }
    }
    return forgotten;
  }

  /** The recent rejections, newest first, before the `before` id when given. */
  rejections(limit: number, before?: number): { items: (Rejection & { id: number })[]; next: number | null } {
    const rows = this.sql
      .exec<{ id: number; body: string }>(
        'SELECT id, body FROM rejections WHERE id < ? AND at >= ? ORDER BY id DESC LIMIT ?',
        before ?? Number.MAX_SAFE_INTEGER,
        new Date(Date.now() - REJECTIONS_DAYS * DAY).toISOString(),
        limit + 1,
      )
      .toArray();
    const items = rows.slice(0, limit).map((r) => ({ id: r.id, ...(JSON.parse(r.body) as Rejection) }));
    return { items, next: rows.length > limit ? items.at(-1)!.id : null };
  }

  /** Per-minute counts by kind since `since` (ms), and the last event seen. */
  health(since: number): { minutes: { minute: string; kind: string; n: number }[]; last_event_at: string | null } {
    const minutes = this.sql
      .exec<{ minute: number; kind: string; n: number }>('SELECT minute, kind, n FROM counters WHERE minute >= ? ORDER BY minute', since)
      .toArray()
      .map((r) => ({ minute: new Date(r.minute).toISOString(), kind: r.kind, n: r.n }));
    const last = this.sql.exec<{ value: string }>("SELECT value FROM meta WHERE key = 'last_event_at'").toArray()[0]?.value ?? null;
    return { minutes, last_event_at: last };
  }

  /** Old rejections and counters go once an hour, at most. */
  private async pruneLater(): Promise<void> {
    if ((await this.ctx.storage.getAlarm()) === null) await this.ctx.storage.setAlarm(Date.now() + 3_600_000);
  }

  override async alarm(): Promise<void> {
    const now = Date.now();
    this.sql.exec('DELETE FROM rejections WHERE at < ?', new Date(now - REJECTIONS_DAYS * DAY).toISOString());
    this.sql.exec('DELETE FROM counters WHERE minute < ?', now - DAY);
    // While anything is left, look again: a source gone quiet still forgets its days.
    const left = this.sql.exec<{ n: number }>('SELECT (SELECT count(*) FROM rejections) + (SELECT count(*) FROM counters) AS n').one().n;
    if (left) await this.ctx.storage.setAlarm(now + 3_600_000);
  }
}

/**
 * Whether a value names one of `ids` anywhere inside: as a string, as a number with the same
 * digits, or in a payload kept as JSON text (a refused event as sent).
 */
function names(value: unknown, ids: ReadonlySet<string>): boolean {
  if (typeof value === 'number') return ids.has(String(value));
  if (typeof value === 'string') {
    if (ids.has(value)) return true;
    if (!/^[[{]/.test(value)) return false;
    try {
      return names(JSON.parse(value), ids);
    } catch {
      // a payload cut at 4 KB is no longer JSON: its quoted strings and bare numbers still name
      return [...ids].some((id) => value.includes(JSON.stringify(id)) || new RegExp(`[:\\[,]${escapeRegExp(id)}[,\\]}]`).test(value));
    }
  }
  if (typeof value === 'object' && value !== null) return Object.entries(value).some(([k, v]) => ids.has(k) || names(v, ids));
  return false;
}

const escapeRegExp = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** A source's monitor. */
export const monitorOf = (env: Env, sourceId: string) =>
  env.MONITORS.getByName(sourceId) as unknown as Pick<SourceMonitor, 'record' | 'rejections' | 'health' | 'fetch' | 'forgetCustomer'>;

/** An erasure: these sources' monitors forget what names the customer or belongs to their sessions. Returns how many items went. */
export async function forgetInMonitors(
  env: Env,
  customerId: string,
  sessions: readonly { source_id: string; session_id: string }[],
  sourceIds: readonly string[],
): Promise<number> {
  const forgotten = await Promise.all(
    sourceIds.map((id) =>
      monitorOf(env, id).forgetCustomer(
        customerId,
        sessions.filter((s) => s.source_id === id).map((s) => s.session_id),
      ),
    ),
  );
  return forgotten.reduce((a, b) => a + b, 0);
}
