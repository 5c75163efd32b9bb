// Floor 1: the least work this design allows per event. The worker parses the JSON body (one event,
// or `{events: [...]}` of one session), calls the session's Durable Object by name over RPC once,
// and the object inserts one row per event in its SQLite (one implicit transaction per call).
import { DurableObject } from 'cloudflare:workers';

export class FloorSession extends DurableObject {
  constructor(ctx, env) {
    super(ctx, env);
    ctx.storage.sql.exec('CREATE TABLE IF NOT EXISTS events (event_id TEXT PRIMARY KEY, body TEXT NOT NULL)');
  }

  insert(events) {
    for (const event of events) this.ctx.storage.sql.exec('INSERT OR IGNORE INTO events (event_id, body) VALUES (?, ?)', event.event_id, JSON.stringify(event));
    return events.length;
  }
}

export default {
  async fetch(request, env) {
    const body = await request.json();
    const events = Array.isArray(body.events) ? body.events : [body];
    await env.FLOOR_SESSIONS.getByName(events[0].session_id).insert(events);
    return new Response(null, { status: 204 });
  },
};
