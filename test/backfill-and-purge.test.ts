import { createExecutionContext, createScheduledController, waitOnExecutionContext } from 'cloudflare:test';
import { env } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import worker from '../src/index';
import { deleteExpired, listExpired } from '../src/storage/expiry';
import { shardFor, shards } from '../src/storage/shards';
import { createSource, customerEvent, event, postEvents, unique } from './fixtures/api';
import { d1Session, eventually, runAlarm, SESSION_OF_NEW_EVENT } from './fixtures/sessions';

const DAY_MS = 86_400_000;

/** Counts D1 row writes to web_events per session (real triggers on every shard, scoped to sessions named backfill-…). */
async function countRowWrites() {
  for (const { db } of shards(env))
    await db.batch([
      db.prepare('CREATE TABLE IF NOT EXISTS test_row_writes (session_id TEXT NOT NULL, kind TEXT NOT NULL)'),
      db.prepare(
        `CREATE TRIGGER IF NOT EXISTS test_count_inserts AFTER INSERT ON web_events WHEN ${SESSION_OF_NEW_EVENT} LIKE 'backfill-%' BEGIN INSERT INTO test_row_writes VALUES (${SESSION_OF_NEW_EVENT}, 'insert'); END`,
      ),
      db.prepare(
        `CREATE TRIGGER IF NOT EXISTS test_count_updates AFTER UPDATE ON web_events WHEN ${SESSION_OF_NEW_EVENT} LIKE 'backfill-%' BEGIN INSERT INTO test_row_writes VALUES (${SESSION_OF_NEW_EVENT}, 'update'); END`,
      ),
    ]);
  return async (sessionId: string) => {
    const counts: Record<string, number> = {};
    for (const { db } of shards(env)) {
      const { results } = await db
        .prepare('SELECT kind, count(*) AS n FROM test_row_writes WHERE session_id = ? GROUP BY kind')
        .bind(sessionId)
        .all<{ kind: string; n: number }>();
      for (const r of results) counts[r.kind] = (counts[r.kind] ?? 0) + r.n;
    }
    return counts;
  };
}

/** `count` anonymous sessions of a source, one event each, last seen `ageDays` ago, straight into one shard. */
async function seedExpired(db: D1Database, sourceId: string, count: number, ageDays: number) {
  const at = new Date(Date.now() - ageDays * DAY_MS).toISOString();
  await db.batch([
    db
      .prepare(
        `WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?2)
       INSERT INTO sessions (source_id, session_id, channel, status, started_at, last_event_at, last_received_at, event_count)
       SELECT ?1, 'old-' || i, 'api', 'closed', ?3, ?3, ?3, 1 FROM n`,
      )
      .bind(sourceId, count, at),
    db
      .prepare(
        `INSERT INTO web_events (id, source_id, event_id, channel, name, occurred_at, received_at)
       SELECT (key << 20) | 1, ?1, 'e-' || session_id, 'api', 'page_view', ?2, ?2 FROM sessions WHERE source_id = ?1`,
      )
      .bind(sourceId, Date.parse(at)),
  ]);
}

/** A source's rows in a table, on every shard. */
const countOf = async (table: string, sourceId: string) => {
  let n = 0;
  for (const { db } of shards(env)) n += (await db.prepare(`SELECT count(*) AS n FROM ${table} WHERE source_id = ?`).bind(sourceId).first<{ n: number }>())!.n;
  return n;
};

describe('backfills and the purge stay linear', () => {
  it('a 2-hour-old session sent in 10 batches of 50 writes each event to D1 once: re-opening changes the session, not its events', async () => {
    const writes = await countRowWrites();
    const source = await createSource();
    const sessionId = unique('backfill');
    for (let b = 0; b < 10; b++) {
      const batch = Array.from({ length: 50 }, (_, i) => customerEvent(sessionId, 'page_view', -120 + b * 5 + i * 0.1));
      expect((await postEvents(source.secret_key, batch)).body.results.every((r) => r.status === 'accepted')).toBe(true);
      // Its close time is long past: its alarm fires at once by itself, writes D1 and closes; the next batch
      // re-opens. (A test's run of the alarm could come after it, and run the next one, the retention delete, early.)
      await eventually(
        async () => (await d1Session(source.id, sessionId))?.event_count === 50 * (b + 1) && (await d1Session(source.id, sessionId))?.status === 'closed',
      );
    }
    expect(await writes(sessionId)).toEqual({ insert: 500 });
    expect(await d1Session(source.id, sessionId)).toMatchObject({ event_count: 500, status: 'closed' });
  });

  it('the cron purges every expired anonymous session, past the old cap of 5,000, in bounded transactions', async () => {
    const sourceId = unique('src');
    // 2,600 on each shard: the purge runs on every one.
    for (const { db } of shards(env)) await seedExpired(db, sourceId, 2_600, 61);
    expect(await countOf('sessions', sourceId)).toBe(5_200);
    const ctx = createExecutionContext();
    await worker.scheduled(createScheduledController({ scheduledTime: Date.now(), cron: '17 * * * *' }), env, ctx);
    await waitOnExecutionContext(ctx);
    expect([await countOf('sessions', sourceId), await countOf('web_events', sourceId)]).toEqual([0, 0]);
  }, 60_000);

  it("an open session is not past its days: its row's times wait for its close, and only then count", async () => {
    const source = await createSource();
    const sessionId = unique('s');
    const customer = unique('cust');
    await postEvents(source.secret_key, [customerEvent(sessionId, 'user_login', -1, customer)]);
    await eventually(async () => (await d1Session(source.id, sessionId)) !== null);
    // Its row says it is old (as an open session's row may, its times being of its last change).
    const { db } = shardFor(env, { source_id: source.id, session_id: sessionId, customer_id: customer });
    const old = new Date(Date.now() - 61 * DAY_MS).toISOString();
    await db.prepare('UPDATE sessions SET started_at = ?1, last_event_at = ?1, last_received_at = ?1 WHERE session_id = ?2').bind(old, sessionId).run();
    const cutoff = new Date(Date.now() - 60 * DAY_MS).toISOString();
    const listed = async () => (await listExpired(db, 'identified', cutoff, 10_000)).filter((k) => k.session_id === sessionId);
    expect(await listed()).toEqual([]);
    await db.prepare("UPDATE sessions SET status = 'closed' WHERE session_id = ?").bind(sessionId).run();
    expect(await listed()).toEqual([{ source_id: source.id, session_id: sessionId }]);
  });

  it('a session that receives an event between the purge listing it and deleting it keeps its row', async () => {
    const source = await createSource();
    const sessionId = unique('s');
    await postEvents(source.secret_key, [event(sessionId, 'page_view', -1)]);
    await runAlarm(source.id, sessionId);
    // Its D1 row ages past retention (its object has not run its own alarm yet).
    const { db } = shardFor(env, { source_id: source.id, session_id: sessionId, customer_id: null });
    const old = new Date(Date.now() - 61 * DAY_MS).toISOString();
    await db.prepare('UPDATE sessions SET last_event_at = ?1, last_received_at = ?1 WHERE session_id = ?2').bind(old, sessionId).run();
    const cutoff = new Date(Date.now() - 60 * DAY_MS).toISOString();
    const listed = (await listExpired(db, 'anonymous', cutoff, 10_000)).filter((k) => k.session_id === sessionId);
    expect(listed).toEqual([{ source_id: source.id, session_id: sessionId }]);

    // Meanwhile an event arrives and the object writes the row again.
    await postEvents(source.secret_key, [event(sessionId, 'page_view', 0)]);
    await runAlarm(source.id, sessionId);

    expect(await deleteExpired(db, 'anonymous', cutoff, listed)).toBe(0);
    expect(await d1Session(source.id, sessionId)).toMatchObject({ event_count: 2 });
  });
});
