import { app } from './app';
import { purgeExpiredSessions } from './retention/purge';

export { SessionObject } from './sessions/session-object';

export default {
  fetch: app.fetch,
  async scheduled(controller, env, ctx) {
    ctx.waitUntil(purgeExpiredSessions(env, controller.scheduledTime));
  },
} satisfies ExportedHandler<Env>;
