import { describe, expect, it } from 'vitest';
import { ADMIN_TOKEN, call, createSource, event, unique } from './fixtures/api';

const errorOf = async (res: Response) => ((await res.json()) as { error: { code: string; message: string } }).error;

describe('authentication', () => {
  it('refuses REST calls without a key, with a wrong key, or with a deactivated source', async () => {
    const batch = { events: [event(unique('s'), 'page_view', 0)] };
    const none = await call('/api/v1/web-events', { method: 'POST', json: batch });
    expect(none.status).toBe(401);
    expect((await errorOf(none)).code).toBe('missing_key');

    const wrong = await call('/api/v1/web-events', { method: 'POST', json: batch, token: 'sk_not-a-key' });
    expect(wrong.status).toBe(401);
    expect((await errorOf(wrong)).code).toBe('invalid_key');

    const source = await createSource();
    const off = await call(`/api/v1/admin/sources/${source.id}`, { method: 'DELETE', token: ADMIN_TOKEN });
    expect(off.status).toBe(200);
    const refused = await call('/api/v1/web-events', { method: 'POST', json: batch, token: source.secret_key });
    expect(refused.status).toBe(403);
    expect((await errorOf(refused)).code).toBe('source_inactive');
  });

  it("refuses another source's data to a valid key", async () => {
    const mine = await createSource();
    const theirs = await createSource();
    const sessionId = unique('s');
    await call('/api/v1/web-events', { method: 'POST', json: { events: [event(sessionId, 'page_view', 0)] }, token: theirs.secret_key });

    const read = await call(`/api/v1/sessions/${theirs.id}/${sessionId}`, { token: mine.secret_key });
    expect(read.status).toBe(403);
    expect((await errorOf(read)).code).toBe('foreign_source');
    const list = await call(`/api/v1/web-events?session_id=${sessionId}`, { token: mine.secret_key });
    expect(((await list.json()) as { events: unknown[] }).events).toEqual([]);
  });

  it('a public key is not a secret key', async () => {
    const source = await createSource();
    const res = await call('/api/v1/web-events', { method: 'POST', json: { events: [] }, token: source.public_key });
    expect(res.status).toBe(401);
  });

  it('the admin API refuses without the admin token, or with a source key', async () => {
    const source = await createSource();
    for (const token of [undefined, 'wrong-token', source.secret_key]) {
      const res = await call('/api/v1/admin/sources', { token });
      expect(res.status).toBe(401);
      expect((await errorOf(res)).code).toBe('invalid_admin_token');
    }
  });

  it('rotating keys with grace_s 0 retires the old ones at once', async () => {
    const source = await createSource();
    const rotated = await call(`/api/v1/admin/sources/${source.id}/rotate-keys`, { method: 'POST', token: ADMIN_TOKEN, json: { grace_s: 0 } });
    expect(rotated.status).toBe(200);
    const next = (await rotated.json()) as { public_key: string; secret_key: string };
    expect(next.public_key).not.toBe(source.public_key);
    const batch = { events: [event(unique('s'), 'page_view', 0)] };
    expect((await call('/api/v1/web-events', { method: 'POST', json: batch, token: source.secret_key })).status).toBe(401);
    expect((await call('/api/v1/web-events', { method: 'POST', json: batch, token: next.secret_key })).status).toBe(200);
  });
});
