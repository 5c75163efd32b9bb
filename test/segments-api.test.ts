import { createExecutionContext, createScheduledController, waitOnExecutionContext } from 'cloudflare:test';
import { env } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import worker from '../src/index';
import { ADMIN_TOKEN, call, createSource } from './fixtures/api';
import { seedBulk, seedSession } from './fixtures/segment-data';
import { preview, seededSources } from './fixtures/segments';

interface SegmentBody {
  id: string;
  member_count: number;
  computed_at: string;
  source_id: string | null;
}

async function save(token: string, definition: unknown) {
  const res = await call('/api/v1/segments', { method: 'POST', token, json: { name: 'test', definition } });
  expect(res.status).toBe(201);
  return (await res.json()) as SegmentBody;
}

describe('segments API', () => {
  it('refuses a field path crafted as SQL, treats a crafted value as data, and leaves the tables intact', async () => {
    const { a } = await seededSources();
    const crafted = "price'); DROP TABLE web_events;--";
    const bad = await preview(a.secret_key, { event: 'product_view', where: [{ field: crafted, op: 'gt', value: 1 }] });
    expect(bad.status).toBe(400);
    expect(bad.body.error?.details?.[0]?.path).toBe('definition.where.0.field');

    const asData = await preview(a.secret_key, { event: 'product_view', where: [{ field: 'brand', op: 'eq', value: crafted }] });
    expect(asData).toEqual({ status: 200, body: { count: 0, customer_ids: [] } });
    const tables = await env.DB.prepare("SELECT count(*) AS n FROM sqlite_master WHERE type = 'table' AND name IN ('web_events', 'sessions')").first<{
      n: number;
    }>();
    expect(tables!.n).toBe(2);
    expect((await preview(a.secret_key, { event: 'product_view', count: { gte: 3 } })).body.count).toBe(3);
  });

  it('refuses malformed definitions with the field and the reason', async () => {
    const { a } = await seededSources();
    const cases: [unknown, string][] = [
      [{ event: 'product_view', count: { gte: 1, lte: 2 } }, 'definition.count'],
      [{ event: 'Bad Name' }, 'definition.event'],
      [{ all: [] }, 'definition.all'],
      [{ not: null }, 'definition.not'],
      [{ any: [{ not: { not: { not: { not: { not: { not: { event: 'x' } } } } } } }] }, 'definition'],
      [{ event: 'x', within_days: 3, from: '2026-01-01T00:00:00Z' }, 'definition'],
    ];
    for (const [definition, path] of cases) {
      const res = await preview(a.secret_key, definition);
      expect(res.status, JSON.stringify(definition)).toBe(400);
      expect(res.body.error?.details?.map((d) => d.path)).toContain(path);
    }
  });

  it('saves a segment computed at once, lists it, pages its customers, and deletes it', async () => {
    const source = await createSource();
    await seedBulk(source.id, 250);
    const segment = await save(source.secret_key, { event: 'newsletter_signup' });
    expect(segment).toMatchObject({ member_count: 250, source_id: source.id });

    const listed = (await (await call('/api/v1/segments', { token: source.secret_key })).json()) as { segments: SegmentBody[] };
    expect(listed.segments.map((s) => s.id)).toEqual([segment.id]);
    const other = await createSource();
    expect((await call(`/api/v1/segments/${segment.id}`, { token: other.secret_key })).status).toBe(404);

    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const res = await call(`/api/v1/segments/${segment.id}/customers?limit=100${cursor ? `&cursor=${cursor}` : ''}`, { token: source.secret_key });
      const page = (await res.json()) as { customer_ids: string[]; next_cursor: string | null };
      seen.push(...page.customer_ids);
      cursor = page.next_cursor;
    } while (cursor);
    expect(seen).toHaveLength(250);
    expect(seen).toEqual([...seen].sort());
    expect(new Set(seen).size).toBe(250);

    expect((await call(`/api/v1/segments/${segment.id}`, { method: 'DELETE', token: source.secret_key })).status).toBe(204);
    expect((await call(`/api/v1/segments/${segment.id}`, { token: source.secret_key })).status).toBe(404);
  });

  it('export streams every member once, in a stable order, past one page (NDJSON and CSV)', async () => {
    const source = await createSource();
    await seedBulk(source.id, 1200);
    const segment = await save(source.secret_key, { event: 'newsletter_signup' });
    const expected = Array.from({ length: 1200 }, (_, i) => `bulk-${String(i).padStart(5, '0')}`);

    const ndjson = await call(`/api/v1/segments/${segment.id}/export`, { token: source.secret_key });
    expect(ndjson.headers.get('content-type')).toBe('application/x-ndjson');
    const lines = (await ndjson.text())
      .trim()
      .split('\n')
      .map((l) => (JSON.parse(l) as { customer_id: string }).customer_id);
    expect(lines).toEqual(expected);

    const csv = await call(`/api/v1/segments/${segment.id}/export?format=csv`, { token: source.secret_key });
    expect((await csv.text()).trim().split('\n')).toEqual(['customer_id', ...expected]);
  });

  it('a CSV export never hands a spreadsheet a formula: cells starting with = + - @ are quoted as text', async () => {
    const source = await createSource();
    const hostile = ['=HYPERLINK("https://evil.example","click")', '+1+2', '-2+3', '@SUM(A1)', 'plain'];
    for (const [i, id] of hostile.entries()) await seedSession(source.id, `csv-${i}`, id, [{ name: 'newsletter_signup', days: 1 }]);
    const segment = await save(source.secret_key, { event: 'newsletter_signup' });
    const csv = await (await call(`/api/v1/segments/${segment.id}/export?format=csv`, { token: source.secret_key })).text();
    expect(csv.trim().split('\n').sort()).toEqual(
      ['"\'=HYPERLINK(""https://evil.example"",""click"")"', "'+1+2", "'-2+3", "'@SUM(A1)", 'customer_id', 'plain'].sort(),
    );
  });

  it('the cron recomputes saved segments; refresh recomputes one on demand', async () => {
    const source = await createSource();
    await seedSession(source.id, 's1', 'c1', [{ name: 'order_complete', days: 1, context: { type: 'order', id: 'o1' } }]);
    const segment = await save(source.secret_key, { event: 'order_complete', within_days: 30 });
    expect(segment.member_count).toBe(1);

    await seedSession(source.id, 's2', 'c2', [{ name: 'order_complete', days: 2, context: { type: 'order', id: 'o2' } }]);
    const ctx = createExecutionContext();
    await worker.scheduled(createScheduledController({ scheduledTime: Date.now(), cron: '47 */6 * * *' }), env, ctx);
    await waitOnExecutionContext(ctx);
    const after = (await (await call(`/api/v1/segments/${segment.id}`, { token: ADMIN_TOKEN })).json()) as SegmentBody;
    expect(after.member_count).toBe(2);
    expect(after.computed_at > segment.computed_at).toBe(true);

    await seedSession(source.id, 's3', 'c3', [{ name: 'order_complete', days: 3, context: { type: 'order', id: 'o3' } }]);
    const refreshed = await call(`/api/v1/segments/${segment.id}/refresh`, { method: 'POST', token: source.secret_key });
    expect(((await refreshed.json()) as SegmentBody).member_count).toBe(3);
  });
});
