import { app } from './app';
import { flushMonitors, monitorsDue } from './monitor/feed';
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
  async fetch(request, env, ctx) {
    const response = await app.fetch(request, env, ctx);
    // What the console shows, gathered during the request, goes to the sources' monitors after the answer.
    if (monitorsDue()) ctx.waitUntil(flushMonitors(env));
    return response;
  },
  async scheduled(controller, env, ctx) {
    const job = CRON_JOBS[controller.cron];
    const jobs = job ? [job] : Object.values(CRON_JOBS);
    ctx.waitUntil(Promise.all(jobs.map((run) => run(env, controller.scheduledTime))));
  },
  async queue(batch, env, ctx) {
    if (batch.queue.endsWith('-dlq')) await recordDeadTriggers(batch, env);
    else await deliverTriggers(batch, env);
    ctx.waitUntil(flushMonitors(env));
  },
} satisfies ExportedHandler<Env, TriggerMessage>;
