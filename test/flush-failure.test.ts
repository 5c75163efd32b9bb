import { env } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import { createSource, event, postEvents, unique } from './fixtures/api';
import { readSession, runAlarm } from './fixtures/sessions';

const countEvents = async (sourceId: string, sessionId: string) =>
  (await env.DB.prepare('SELECT count(*) AS n FROM web_events WHERE source_id = ? AND session_id = ?').bind(sourceId, sessionId).first<{ n: number }>())!.n;

describe('D1 failure during a flush', () => {
  it('loses nothing: the next alarm writes every event exactly once', async () => {
    const source = await createSource();
    const sessionId = unique('s');
    // A real D1 failure, scoped to this session: a trigger that aborts its inserts.
    const trigger = `fail_${sessionId.replace(/\W/g, '_')}`;
    await env.DB.exec(
      `CREATE TRIGGER ${trigger} BEFORE INSERT ON web_events WHEN NEW.session_id = '${sessionId}' BEGIN SELECT RAISE(ABORT, 'injected D1 failure'); END`,
    );
    try {
      const events = [event(sessionId, 'page_view', -3), event(sessionId, 'page_view', -2)];
      await postEvents(source.secret_key, events);
      await runAlarm(source.id, sessionId);
      expect(await countEvents(source.id, sessionId)).toBe(0);
      // The batch is one transaction: no session row without its events.
      expect(await env.DB.prepare('SELECT 1 FROM sessions WHERE session_id = ?').bind(sessionId).first()).toBeNull();

      // More events arrive while D1 is down; they wait with the others.
      await postEvents(source.secret_key, [event(sessionId, 'page_view', -1)]);
      await runAlarm(source.id, sessionId);
      expect(await countEvents(source.id, sessionId)).toBe(0);
    } finally {
      await env.DB.exec(`DROP TRIGGER ${trigger}`);
    }

    await runAlarm(source.id, sessionId);
    expect(await countEvents(source.id, sessionId)).toBe(3);
    await runAlarm(source.id, sessionId); // close, rewrite: still exactly once
    expect(await countEvents(source.id, sessionId)).toBe(3);
    expect((await readSession(source.id, sessionId, source.secret_key)).body.session.status).toBe('closed');
  });
});
