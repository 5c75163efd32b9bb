import { describe, expect, it } from 'vitest';
import { ADMIN_TOKEN, call, createSource, event, unique } from './fixtures/api';

interface ErrorBody {
  error: { code: string; message: string; details?: { path: string; message: string }[] };
}

async function post(token: string, body: BodyInit, headers: Record<string, string> = {}) {
  const res = await call('/api/v1/web-events', { method: 'POST', token, body, headers: { 'content-type': 'application/json', ...headers } });
  return {
    status: res.status,
    body: (await res.json()) as ErrorBody & { results?: { status: string; error?: { details: { path: string; message: string }[] } }[] },
  };
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
          { ...event(sessionId, 'page_view', 0), session_id: '..' },
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
      ['rejected', 'session_id'],
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

  it('a segment definition nested 50,000 levels deep is refused before anything walks it', async () => {
    const source = await createSource();
    const nested = (levels: number) => `{"definition":${'{"not":'.repeat(levels)}{"identified":true}${'}'.repeat(levels)}}`;
    const preview = (body: string) =>
      call('/api/v1/segments/preview', { method: 'POST', token: source.secret_key, body, headers: { 'content-type': 'application/json' } });
    expect((await preview(nested(50_000))).status).toBe(413); // 350 KB: over the cap of these routes
    const res = await preview(nested(5_000)); // 35 KB: under it, and still too deep
    expect(res.status).toBe(400);
    expect(((await res.json()) as ErrorBody).error).toMatchObject({ code: 'invalid_json', message: expect.stringMatching(/deeper than 32 levels/) });
  });

  it('every JSON route caps its body: an admin body of 100 KB is refused with 413', async () => {
    const res = await call('/api/v1/admin/sources', {
      method: 'POST',
      token: ADMIN_TOKEN,
      json: { id: unique('src'), name: 'x'.repeat(100_000), kind: 'server' },
    });
    expect(res.status).toBe(413);
  });

  it("an SDK batch's device facts nested 2,000 levels deep refuse its events by field, and never block a flush", async () => {
    const app = await createSource({ kind: 'mobile_app' });
    const sessionId = unique('s');
    const device = { nested: JSON.parse(`${'['.repeat(1000)}${']'.repeat(1000)}`) as unknown };
    const res = await call('/v1/sdk/events', {
      method: 'POST',
      headers: { 'x-source-key': app.public_key },
      json: { device, events: [event(sessionId, 'app_open', 0)] },
    });
    const { results } = (await res.json()) as { results: { status: string; error?: { details: { path: string }[] } }[] };
    expect(results.map((r) => [r.status, r.error?.details[0]?.path])).toEqual([['rejected', 'device']]);
  });

  it('a context nested deeper than 16 levels is refused alone (SQLite cannot read JSON past 1,000 levels)', async () => {
    const { secret_key } = await createSource();
    const sessionId = unique('s');
    let nested: unknown = 1;
    for (let i = 0; i < 2000; i++) nested = { a: nested };
    const res = await post(
      secret_key,
      JSON.stringify({ events: [event(sessionId, 'custom', 0, { context: { type: 'blob', nested } }), event(sessionId, 'page_view', 0)] }),
    );
    expect(res.body.results!.map((r) => [r.status, r.error?.details[0]?.path])).toEqual([
      ['rejected', 'context'],
      ['accepted', undefined],
    ]);
  });
});
