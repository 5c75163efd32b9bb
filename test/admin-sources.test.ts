import { env } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import { ADMIN_TOKEN, call, createSource, unique } from './fixtures/api';

const admin = (path: string, init: RequestInit & { json?: unknown } = {}) => call(`/api/v1/admin/sources${path}`, { ...init, token: ADMIN_TOKEN });

describe('admin API for event sources', () => {
  it('creates a source with both keys, stores only the hash of the secret, and never shows it again', async () => {
    const id = unique('shop');
    const res = await admin('', { method: 'POST', json: { id, name: 'Shop EU', kind: 'website', allowed_origins: ['https://shop.example/'] } });
    expect(res.status).toBe(201);
    const created = (await res.json()) as Record<string, unknown>;
    expect(created).toMatchObject({ id, kind: 'website', allowed_origins: ['https://shop.example'], session_timeout_s: 3600, active: true });
    expect(created.public_key).toMatch(/^pk_/);
    expect(created.secret_key).toMatch(/^sk_/);

    const row = await env.DB.prepare('SELECT secret_key_hash FROM event_sources WHERE id = ?').bind(id).first<{ secret_key_hash: string }>();
    expect(row!.secret_key_hash).toMatch(/^[0-9a-f]{64}$/);
    const read = (await (await admin(`/${id}`)).json()) as Record<string, unknown>;
    expect(read.secret_key).toBeUndefined();
    const list = (await (await admin('')).json()) as { sources: { id: string }[] };
    expect(list.sources.map((s) => s.id)).toContain(id);
  });

  it('refuses a taken id, a bad kind and a bad origin, naming the field', async () => {
    const source = await createSource();
    expect((await admin('', { method: 'POST', json: { id: source.id, name: 'x', kind: 'server' } })).status).toBe(409);
    const bad = await admin('', { method: 'POST', json: { id: unique('x'), name: 'x', kind: 'kiosk', allowed_origins: ['shop.example'] } });
    expect(bad.status).toBe(400);
    const details = ((await bad.json()) as { error: { details: { path: string }[] } }).error.details.map((d) => d.path);
    expect(details).toEqual(expect.arrayContaining(['kind', 'allowed_origins.0']));
  });

  it('updates, deactivates and re-activates a source', async () => {
    const source = await createSource();
    const patched = await admin(`/${source.id}`, { method: 'PATCH', json: { name: 'Renamed', session_timeout_s: 900 } });
    expect(await patched.json()).toMatchObject({ name: 'Renamed', session_timeout_s: 900, active: true });
    expect(await (await admin(`/${source.id}`, { method: 'DELETE' })).json()).toMatchObject({ active: false });
    expect(await (await admin(`/${source.id}`, { method: 'PATCH', json: { active: true } })).json()).toMatchObject({ active: true });
    expect((await admin(`/${unique('none')}`, { method: 'PATCH', json: { active: true } })).status).toBe(404);
  });

  it('rotates only the key asked for', async () => {
    const source = await createSource();
    const res = await admin(`/${source.id}/rotate-keys`, { method: 'POST', json: { keys: ['public'] } });
    const rotated = (await res.json()) as { public_key: string; secret_key?: string };
    expect(rotated.public_key).not.toBe(source.public_key);
    expect(rotated.secret_key).toBeUndefined();
    const stillWorks = await call('/api/v1/web-events?limit=1', { token: source.secret_key });
    expect(stillWorks.status).toBe(200);
  });
});
