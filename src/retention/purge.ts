import { tunables } from '../config';
import { purgeAnonymousSessions } from '../storage/records';

/** The cron: deletes from D1 the sessions still anonymous past retention (the objects expire themselves). */
export async function purgeExpiredSessions(env: Env, now = Date.now()): Promise<number> {
  const cutoff = new Date(now - tunables(env).retentionDays * 86_400_000).toISOString();
  const deleted = await purgeAnonymousSessions(env.DB, cutoff);
  console.log(JSON.stringify({ message: 'retention purge', cutoff, sessions_deleted: deleted }));
  return deleted;
}
