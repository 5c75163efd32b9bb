import { tunables } from '../config';
import { purgeErasures } from '../storage/erasure';
import { purgeExpiredSessions, trimEvents } from '../storage/expiry';
import { purgeExpiredLandings } from '../storage/links';
import { onEveryShard } from '../storage/shards';
import { listSources } from '../storage/sources';
import { purgeDeadLetters } from '../storage/triggers';

/** How long one purge run may go on: the hourly cron gets 15 minutes of wall time. */
const RUN_BUDGET_MS = 10 * 60_000;
/** Dead letters are kept for operators this long. */
const DEAD_LETTER_DAYS = 30;
/** An erasure's own record outlives any message that could name its customer: a queue keeps one at most 14 days. */
const ERASURE_RECORD_DAYS = 15;
const DAY_MS = 86_400_000;

/**
 * The hourly cron, on every shard at once (each is its own writer), within one budget (the next
 * run goes on where it stopped): deletes the sessions past retention (the objects expire
 * themselves) and the events past the D1 window, in bounded statements; then dead letters,
 * campaign link landings and erasure records past their time.
 */
export async function purgeExpired(env: Env, now = Date.now()) {
  const { retention, d1EventDays } = tunables(env);
  const iso = (days: number) => new Date(now - days * DAY_MS).toISOString();
  const expiry = { anonymousBefore: iso(retention.anonymousDays), identifiedBefore: retention.identifiedDays === null ? null : iso(retention.identifiedDays) };
  const deadline = Date.now() + RUN_BUDGET_MS;
  const sourceIds = d1EventDays === null ? [] : (await listSources(env.DB)).map((s) => s.id);
  const runs = await onEveryShard(env, async (db) => {
    const sessions = await purgeExpiredSessions(db, expiry, deadline);
    const events = d1EventDays === null ? { deleted: 0, finished: true } : await trimEvents(db, sourceIds, now - d1EventDays * DAY_MS, deadline);
    return { sessions, events };
  });
  const sessions = { deleted: sum(runs.map((r) => r.sessions.deleted)), finished: runs.every((r) => r.sessions.finished && r.events.finished) };
  const eventsTrimmed = sum(runs.map((r) => r.events.deleted));
  const deadLetters = await purgeDeadLetters(env.DB, iso(DEAD_LETTER_DAYS));
  const landings = await purgeExpiredLandings(env.DB, new Date(now).toISOString());
  const erasures = await purgeErasures(env.DB, iso(ERASURE_RECORD_DAYS));
  console.log(
    JSON.stringify({
      message: 'retention purge',
      ...expiry,
      eventsBefore: d1EventDays === null ? null : iso(d1EventDays),
      sessions_deleted: sessions.deleted,
      events_trimmed: eventsTrimmed,
      finished: sessions.finished,
      dead_letters_deleted: deadLetters,
      landings_deleted: landings,
      erasure_records_deleted: erasures,
    }),
  );
  return { ...sessions, eventsTrimmed };
}

const sum = (values: number[]) => values.reduce((a, b) => a + b, 0);
