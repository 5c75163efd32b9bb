import { app } from './app';
import { purgeExpired } from './retention/purge';
import { refreshAllSegments } from './segments/refresh';
import { deliverTriggers, recordDeadTriggers } from './triggers/deliver';
import type { TriggerMessage } from './triggers/session-triggers';

/** The cron jobs by schedule, as in wrangler.toml's [triggers]; another schedule (a local test run) runs both. */
const CRON_JOBS: Record<string, (env: Env, now: number) => Promise<unknown>> = {
  '17 * * * *': purgeExpired,
  '47 */6 * * *': refreshAllSegments,
};

export { SourceMonitor } from './monitor/monitor-object';
export { SessionObject } from './sessions/session-object';
export { VisitorObject } from './wire/visitors';

export default {
  fetch: app.fetch,
  async scheduled(controller, env, ctx) {
    const job = CRON_JOBS[controller.cron];
    const jobs = job ? [job] : Object.values(CRON_JOBS);
    ctx.waitUntil(Promise.all(jobs.map((run) => run(env, controller.scheduledTime))));
  },
  async queue(batch, env) {
    if (batch.queue.endsWith('-dlq')) await recordDeadTriggers(batch, env);
    else await deliverTriggers(batch, env);
  },
} satisfies ExportedHandler<Env, TriggerMessage>;
