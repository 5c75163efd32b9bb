import { tunables } from '../config';
import { purgeExpiredLandings } from '../storage/links';
import { purgeExpiredSessions } from '../storage/records';
import { onEveryShard } from '../storage/shards';
import { purgeDeadLetters } from '../storage/triggers';

/** How long one purge run may go on: the hourly cron gets 15 minutes of wall time. */
const RUN_BUDGET_MS = 10 * 60_000;
/** Dead letters are kept for operators this long. */
const DEAD_LETTER_DAYS = 30;
const DAY_MS = 86_400_000;

/**
 * The hourly cron: deletes from D1 the sessions past retention (the objects expire themselves),
 * in bounded transactions until none is left or the run's budget is spent (the next run goes on),
 * then dead letters and campaign link landings past their time.
 */
export async function purgeExpired(env: Env, now = Date.now()) {
  const { retention } = tunables(env);
  const iso = (days: number) => new Date(now - days * DAY_MS).toISOString();
  const expiry = { anonymousBefore: iso(retention.anonymousDays), identifiedBefore: retention.identifiedDays === null ? null : iso(retention.identifiedDays) };
  // Every shard at once (each is its own writer), within one budget: the next run goes on.
  const deadline = Date.now() + RUN_BUDGET_MS;
  const runs = await onEveryShard(env, (db) => purgeExpiredSessions(db, expiry, deadline));
  const sessions = { deleted: runs.reduce((n, r) => n + r.deleted, 0), finished: runs.every((r) => r.finished) };
  const deadLetters = await purgeDeadLetters(env.DB, iso(DEAD_LETTER_DAYS));
  const landings = await purgeExpiredLandings(env.DB, new Date(now).toISOString());
  console.log(
    JSON.stringify({
      message: 'retention purge',
      ...expiry,
      sessions_deleted: sessions.deleted,
      finished: sessions.finished,
      dead_letters_deleted: deadLetters,
      landings_deleted: landings,
    }),
  );
  return sessions;
}
