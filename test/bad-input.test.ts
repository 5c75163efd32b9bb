import { describe, expect, it } from 'vitest';
import { call, createSource, event, unique } from './fixtures/api';

interface ErrorBody {
  error: { code: string; message: string; details?: { path: string; message: string }[] };
}

async function post(token: string, body: BodyInit, headers: Record<string, string> = {}) {
  const res = await call('/api/v1/web-events', { method: 'POST', token, body, headers: { 'content-type': 'application/json', ...headers } });
  return { status: res.status, body: (await res.json()) as ErrorBody & { results?: { status: string; error?: { details: { path: string; message: string }[] } }[] } };
}

describe('bad input gets a 4xx in the one error shape, never a 5xx', () => {
  it('not JSON', async () => {
    const { secret_key } = await createSource();
    const res = await post(secret_key, '{"events": [');
    expect(res.status).toBe(400);
    expect(res.body.error).toMatchObject({ code: 'invalid_json' });
  });

  it('an empty body, or no events array', async () => {
    const { secret_key } = await createSource();
    expect((await post(secret_key, '')).status).toBe(400);
    const res = await post(secret_key, JSON.stringify({ event: [] }));
    expect(res.status).toBe(400);
    expect(res.body.error.details?.[0]?.path).toBe('events');
  });

  it('a body over 1 MB, before parsing it', async () => {
    const { secret_key } = await createSource();
    const big = JSON.stringify({ events: [event('s', 'page_view', 0, { params: { pad: 'x'.repeat(1000) } })], pad: 'y'.repeat(1024 * 1024) });
    const res = await post(secret_key, big);
    expect(res.status).toBe(413);
    expect(res.body.error.code).toBe('payload_too_large');
  });

  it('more than 500 events', async () => {
    const { secret_key } = await createSource();
    const sessionId = unique('s');
    const res = await post(secret_key, JSON.stringify({ events: Array.from({ length: 501 }, () => event(sessionId, 'page_view', 0)) }));
    expect(res.status).toBe(400);
    expect(res.body.error.details?.[0]).toMatchObject({ path: 'events' });
  });

  it('wrong types and a missing session_id are rejected per event, naming the field', async () => {
    const { secret_key } = await createSource();
    const sessionId = unique('s');
    const { session_id: _omit, ...noSession } = event(sessionId, 'page_view', 0);
    const res = await post(
      secret_key,
      JSON.stringify({
        events: [
          noSession,
          { ...event(sessionId, 'page_view', 0), seq: 'one' },
          { ...event(sessionId, 'page_view', 0), occurred_at: 'yesterday' },
          { ...event(sessionId, 'Page View!', 0) },
          { ...event(sessionId, 'custom', 0), params: { nested: { no: 1 } } },
          { ...event(sessionId, 'custom', 0), context: { type: 'blob', data: 'x'.repeat(17 * 1024) } },
          'not an object',
          event(sessionId, 'page_view', 0),
        ],
      }),
    );
    expect(res.status).toBe(200);
    expect(res.body.results!.map((r) => [r.status, r.error?.details[0]?.path])).toEqual([
      ['rejected', 'session_id'],
      ['rejected', 'seq'],
      ['rejected', 'occurred_at'],
      ['rejected', 'name'],
      ['rejected', 'params.nested'],
      ['rejected', 'context'],
      ['rejected', '(event)'],
      ['accepted', undefined],
    ]);
    expect(res.body.results![2]!.error!.details[0]!.message).toMatch(/ISO-8601/);
  });

  it('an unknown route or a bad path parameter', async () => {
    const source = await createSource();
    expect((await call('/api/v1/nothing', { token: source.secret_key })).status).toBe(404);
    const res = await call(`/api/v1/sessions/${source.id}/bad%20id`, { token: source.secret_key });
    expect(res.status).toBe(400);
    expect(((await res.json()) as ErrorBody).error.details?.[0]?.path).toBe('session_id');
  });

  it('an unknown session is a 404', async () => {
    const source = await createSource();
    const res = await call(`/api/v1/sessions/${source.id}/${unique('none')}`, { token: source.secret_key });
    expect(res.status).toBe(404);
    expect(((await res.json()) as ErrorBody).error.code).toBe('session_not_found');
  });

  it('a cursor this API did not make', async () => {
    const source = await createSource();
    const res = await call('/api/v1/web-events?cursor=garbage', { token: source.secret_key });
    expect(res.status).toBe(400);
    expect(((await res.json()) as ErrorBody).error.code).toBe('invalid_cursor');
  });
});
