import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_TOKEN, eventually, launch, sharedCollector, startShop } from './harness';

interface Session {
  session: { customer_id: string | null; deanonymized_by: string | null; event_count: number };
  events: { event_id: string; name: string; customer_id: string | null; seq: number; channel: string }[];
}

const collector = sharedCollector();
let browser: Browser;
const stops: (() => Promise<unknown>)[] = [];

beforeAll(async () => {
  browser = await launch();
});
afterAll(async () => {
  await browser?.close();
  for (const stop of stops) await stop();
});

/** A website source allowed for a new storefront origin, the storefront, and a browser context on it. */
async function storefront(attrs = '') {
  const id = `shop-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 6)}`;
  const shop = await startShop(collector.url, attrs);
  stops.push(shop.stop);
  const res = await fetch(`${collector.url}/api/v1/admin/sources`, {
    method: 'POST',
    headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
    body: JSON.stringify({ id, name: 'E2E shop', kind: 'website', allowed_origins: [shop.origin] }),
  });
  const source = (await res.json()) as { id: string; public_key: string; secret_key: string; identity_secret: string };
  shop.setSource(source);
  // A person's Chrome, by its user agent (see launch): the collector drops headless browsers as bots.
  const context = await browser.newContext();
  return { source, shop, context };
}

const sessionIdOf = async (context: BrowserContext) => decodeURIComponent((await context.cookies()).find((c) => c.name === '_we')?.value ?? '').split('|')[0]!;

async function readSession(sourceId: string, sessionId: string, secret: string): Promise<Session | undefined> {
  const res = await fetch(`${collector.url}/api/v1/sessions/${sourceId}/${sessionId}`, { headers: { authorization: `Bearer ${secret}` } });
  return res.ok ? ((await res.json()) as Session) : undefined;
}

const waitFor = (sourceId: string, sessionId: string, secret: string, count: number) =>
  eventually(async () => {
    const s = await readSession(sourceId, sessionId, secret);
    return s && s.events.length >= count ? s : undefined;
  });

/** Opens the shop page and waits until the tracker has taken over from the stub. */
async function openShop(page: Page, url: string) {
  await page.goto(url);
  await page.waitForFunction(() => typeof (window as unknown as { webevents: { q?: unknown } }).webevents.q === 'undefined');
}

const click = async (page: Page, ...ids: string[]) => {
  for (const id of ids) await page.click(`#${id}`);
};

describe('the tracker in a real browser', () => {
  it('an anonymous visit, then a login: every event in order, all attributed to the customer', async () => {
    const { source, shop, context } = await storefront();
    const page = await context.newPage();
    await openShop(page, `${shop.origin}/shop?utm_source=mail`);
    await click(page, 'view-1', 'view-2', 'add', 'login', 'view-1');
    const sessionId = await sessionIdOf(context);
    const s = await waitFor(source.id, sessionId, source.secret_key, 8);
    expect(s.events.map((e) => e.name)).toEqual([
      'user_visit',
      'page_view',
      'category_view',
      'product_view',
      'product_view',
      'container_add',
      'user_login',
      'product_view',
    ]);
    expect(s.events.map((e) => e.seq)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    expect(s.events.every((e) => e.customer_id === 'cust-42' && e.channel === 'tracker')).toBe(true);
    expect(s.session).toMatchObject({ customer_id: 'cust-42', deanonymized_by: 'login' });
    await context.close();
  });

  it('after the cookie expires, the next action starts a new session', async () => {
    const { source, shop, context } = await storefront('data-session-minutes="0.05" data-auto="false"');
    const page = await context.newPage();
    await openShop(page, `${shop.origin}/shop`);
    await click(page, 'view-1');
    const first = await sessionIdOf(context);
    // The 3-second cookie runs out (the browser's own clock decides).
    await page.waitForFunction(() => !document.cookie.includes('_we='), undefined, { timeout: 15_000, polling: 250 });
    await click(page, 'view-2');
    const second = await sessionIdOf(context);
    expect(second).not.toBe(first);
    const s = await waitFor(source.id, second, source.secret_key, 1);
    expect(s.events.map((e) => e.name)).toEqual(['product_view']);
    await context.close();
  });

  it('with the collector unreachable, events wait and arrive exactly once when it is back', async () => {
    const { source, shop, context } = await storefront('data-auto="false"');
    await context.route(`${collector.url}/t`, (route) => route.abort('internetdisconnected'));
    const page = await context.newPage();
    await openShop(page, `${shop.origin}/shop`);
    await click(page, 'view-1', 'add');
    await page.waitForFunction(() => (localStorage.getItem('_we_q') ?? '').split('\n').length === 3);
    const sessionId = await sessionIdOf(context);
    await page.goto('about:blank'); // leaving tries a beacon, which is blocked too
    await context.unroute(`${collector.url}/t`);
    const next = await context.newPage();
    await openShop(next, `${shop.origin}/shop`); // the next page delivers what waited
    // What waited, then the next page's own category view; each exactly once.
    await waitFor(source.id, sessionId, source.secret_key, 4);
    await next.waitForFunction(() => localStorage.getItem('_we_q') === null);
    const s = (await readSession(source.id, sessionId, source.secret_key))!;
    expect(s.events.map((e) => e.name)).toEqual(['category_view', 'product_view', 'container_add', 'category_view']);
    expect(new Set(s.events.map((e) => e.event_id)).size).toBe(4);
    expect(s.session.event_count).toBe(4);
    await context.close();
  });

  it('a page closed right after an action still delivers it', async () => {
    const { source, shop, context } = await storefront('data-auto="false"');
    const page = await context.newPage();
    await openShop(page, `${shop.origin}/shop`);
    const sessionId = await sessionIdOf(context);
    await click(page, 'add');
    // Closed before the 1 s batch timer: pagehide hands the batch to sendBeacon.
    await page.close({ runBeforeUnload: true });
    const s = await waitFor(source.id, sessionId, source.secret_key, 2);
    expect(s.events.map((e) => e.name)).toEqual(['category_view', 'container_add']);
    await context.close();
  });

  it('a page left right after an action still delivers it', async () => {
    const { source, shop, context } = await storefront('data-auto="false"');
    const page = await context.newPage();
    await openShop(page, `${shop.origin}/shop`);
    await page.evaluate(() =>
      (window as unknown as { webevents: (...a: unknown[]) => void }).webevents('event', 'order_complete', { order: { id: 'o-1', total: 19 } }),
    );
    const sessionId = await sessionIdOf(context);
    // Off to another site before the 1 s batch timer: pagehide hands the batch to sendBeacon.
    await page.goto(`${collector.url}/`);
    const s = await waitFor(source.id, sessionId, source.secret_key, 2);
    expect(s.events.map((e) => e.name)).toEqual(['category_view', 'order_complete']);
    await context.close();
  });
});
