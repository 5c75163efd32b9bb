import { describe, expect, it } from 'vitest';
import { normalizeEvent } from '../src/events/normalize';
import { trimUrl } from '../src/events/page-url';
import { ADMIN_TOKEN, beacon, call, createSource, event, postEvents, SHOP, unique } from './fixtures/api';
import { readSession } from './fixtures/sessions';

const tracked = (sessionId: string, extra: Record<string, unknown>) => ({
  i: crypto.randomUUID(),
  s: sessionId,
  n: 'page_view',
  t: Date.now(),
  q: 1,
  ...extra,
});

describe('what of a URL is stored', () => {
  it('a fragment route with a secret stays out of page.url, page.referrer and the landing URL', async () => {
    const shop = await createSource({ kind: 'website', allowed_origins: [SHOP] });
    const sessionId = unique('s');
    const res = await beacon(shop.public_key, [tracked(sessionId, { u: `${SHOP}/#/reset/SECRET`, r: `${SHOP}/mail#/magic/SECRET2` })]);
    expect(res.status).toBe(204);
    const { body } = await readSession(shop.id, sessionId, shop.secret_key);
    expect(body.events[0]!.page).toMatchObject({ url: `${SHOP}/`, referrer: `${SHOP}/mail` });
    expect(body.session.landing_url).toBe(`${SHOP}/`);
    expect(JSON.stringify(body)).not.toContain('SECRET');
  });

  it('trims URLs in a context snapshot and in params like page URLs; other strings stay as sent', async () => {
    const source = await createSource({ allowed_query_params: ['variant'] });
    const sessionId = unique('s');
    const product = {
      type: 'product',
      id: 'sku-1',
      url: `${SHOP}/p/1?variant=red&token=abc&utm_source=mail#/reset/SECRET`,
      image_url: 'https://cdn.example/i.png?sig=SECRET',
      links: [{ href: 'http://shop.example/x?session=SECRET' }],
    };
    const params = {
      back: `${SHOP}/cart?token=SECRET`,
      broken: 'https://[::1/?token=SECRET',
      note: 'not a URL ?token=kept',
      mail: 'mailto:a@b.example?subject=kept',
    };
    const posted = await postEvents(source.secret_key, [event(sessionId, 'product_view', 0, { context: product, params })]);
    expect(posted.body.results[0]!.status).toBe('accepted');
    const [stored] = (await readSession(source.id, sessionId, source.secret_key)).body.events;
    expect(stored!.context).toMatchObject({
      url: `${SHOP}/p/1?variant=red&utm_source=mail`,
      image_url: 'https://cdn.example/i.png',
      links: [{ href: 'http://shop.example/x' }],
    });
    expect(stored!.params).toEqual({ back: `${SHOP}/cart`, broken: 'https://[::1/', note: 'not a URL ?token=kept', mail: 'mailto:a@b.example?subject=kept' });
    expect(JSON.stringify(stored)).not.toContain('SECRET');
  });

  it('a source keeps route fragments only when it says so, and never one that holds data', async () => {
    const arrival = { sourceId: 'src', channel: 'api' as const, receivedAt: Date.now(), queryParams: new Set<string>() };
    const raw = event('s-1', 'page_view', 0, { page: { url: `${SHOP}/#/cart` }, params: { from: `${SHOP}/#/p/1` } });
    const kept = normalizeEvent(raw, { ...arrival, keepUrlFragments: true });
    const dropped = normalizeEvent(raw, arrival);
    expect(kept.ok && [kept.event.page?.url, kept.event.params?.from]).toEqual([`${SHOP}/#/cart`, `${SHOP}/#/p/1`]);
    expect(dropped.ok && [dropped.event.page?.url, dropped.event.params?.from]).toEqual([`${SHOP}/`, `${SHOP}/`]);
    expect(trimUrl(`${SHOP}/x#access_token=abc`, { params: new Set(), fragments: true })).toBe(`${SHOP}/x`);
  });

  it('keep_url_fragments is a source setting: false by default, set on create or by PATCH', async () => {
    const plain = await createSource({ kind: 'website', allowed_origins: [SHOP] });
    const routed = await createSource({ kind: 'website', allowed_origins: [SHOP], keep_url_fragments: true });
    const read = async (id: string) => (await (await call(`/api/v1/admin/sources/${id}`, { token: ADMIN_TOKEN })).json()) as Record<string, unknown>;
    expect([(await read(plain.id)).keep_url_fragments, (await read(routed.id)).keep_url_fragments]).toEqual([false, true]);
    const patched = await call(`/api/v1/admin/sources/${routed.id}`, { method: 'PATCH', token: ADMIN_TOKEN, json: { keep_url_fragments: false } });
    expect(((await patched.json()) as { keep_url_fragments: boolean }).keep_url_fragments).toBe(false);
    expect((await read(routed.id)).keep_url_fragments).toBe(false);
  });
});
