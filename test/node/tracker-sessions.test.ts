import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { LINK_PARAM as COLLECTOR_LINK_PARAM } from '../../src/links/token';
import { LINK_PARAM, OFF_KEY } from '../../src/tracker/wire';
import { fakeBrowser, names } from './fake-browser';

const SHOP = 'https://shop.example/mugs?utm_source=mail&utm_campaign=spring&x=1';
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

beforeEach(() => {
  vi.useFakeTimers({ now: Date.parse('2026-11-28T10:00:00Z') });
});
afterEach(() => {
  vi.useRealTimers();
});

describe('the tracker on a page: the stub, sessions and the cookie', () => {
  it('replays the calls made before it loaded, in order, after the automatic user_visit and page_view', async () => {
    const b = fakeBrowser();
    const { page } = b.open(SHOP, {}, [
      ['event', 'category_view', { category: { id: 'mugs' } }],
      ['event', 'product_view', { product: { id: 'sku-1' } }],
    ]);
    expect(page.webevents.q).toBeUndefined(); // the stub is replaced by the real function
    await b.settle();
    const events = b.delivered();
    expect(names(events)).toEqual(['user_visit', 'page_view', 'category_view', 'product_view']);
    expect(events.map((e) => e.q)).toEqual([1, 2, 3, 4]);
    expect(new Set(events.map((e) => e.s)).size).toBe(1);
    expect(events.every((e) => UUID.test(e.i) && e.u === SHOP && e.r === 'https://mail.example/')).toBe(true);
    expect(events[0]!.p).toEqual({ utm_source: 'mail', utm_campaign: 'spring' });
    expect(events[2]!.c).toEqual({ category: { id: 'mugs' } });
  });

  it("takes a campaign link's token out of the address bar at once, and sends it once, with the first events", async () => {
    expect(LINK_PARAM).toBe(COLLECTOR_LINK_PARAM);
    const b = fakeBrowser();
    const { page, webevents } = b.open(`https://shop.example/cart?from=mail&${LINK_PARAM}=TOKEN123&utm_source=news#/step`);
    expect(page.location.href).toBe('https://shop.example/cart?from=mail&utm_source=news#/step');
    for (const [from, to] of [
      [`https://shop.example/?${LINK_PARAM}=T`, 'https://shop.example/'],
      [`https://shop.example/?a=1&${LINK_PARAM}=T`, 'https://shop.example/?a=1'],
      [`https://shop.example/?${LINK_PARAM}=T#x`, 'https://shop.example/#x'],
    ] as const)
      expect(fakeBrowser().open(from).page.location.href).toBe(to);
    webevents('event', 'search', { search: { query: 'mug' } });
    await b.settle();
    const events = b.delivered();
    expect(names(events)).toEqual(['user_visit', 'page_view', 'search']);
    expect(events.map((e) => e.u.includes('TOKEN123'))).toEqual([true, true, false]);
    expect(events[0]!.p).toEqual({ utm_source: 'news' });
  });

  it('applies consent queued before it loaded before anything is sent, even the automatic page view', async () => {
    const refused = fakeBrowser();
    refused.open(SHOP, {}, [['event', 'product_view', { product: { id: 'sku-1' } }], ['optout']]);
    await refused.settle();
    expect(refused.sent).toEqual([]);
    expect(refused.sessionCookie()).toBe(''); // and no session cookie left

    // A visitor who opted out on an earlier page opts in on this one, before the script loaded.
    const given = fakeBrowser();
    given.storage.set(OFF_KEY, '1');
    given.open(SHOP, {}, [['optin'], ['event', 'search', { search: { query: 'mug' } }]]);
    await given.settle();
    expect(names(given.delivered())).toEqual(['user_visit', 'page_view', 'search']);
  });

  it('keeps the session in a first-party cookie renewed by every action, and starts a new one after an hour without any', async () => {
    const b = fakeBrowser();
    const { webevents } = b.open(SHOP, { auto: 'false' });
    webevents('event', 'page_view');
    const sid = b.sessionCookie().split('|')[0]!;
    expect(b.cookie()).toMatchObject({ expires: Date.now() + 3600_000, attributes: 'max-age=3600;path=/;samesite=lax;secure' });
    expect(b.sessionCookie()).toBe(`${sid}|1|`);
    vi.setSystemTime(Date.now() + 50 * 60_000);
    webevents('event', 'page_view'); // within the hour: renewed
    expect(b.cookie()!.expires).toBe(Date.now() + 3600_000);
    vi.setSystemTime(Date.now() + 50 * 60_000);
    webevents('event', 'page_view'); // 100 minutes after the first, 50 after the last: the same session
    vi.setSystemTime(Date.now() + 61 * 60_000);
    expect(b.sessionCookie()).toBe(''); // expired
    webevents('event', 'page_view');
    await b.settle();
    const sessions = b.delivered().map((e) => [e.s === sid ? 'first' : e.s, e.q]);
    expect(sessions.slice(0, 3)).toEqual([
      ['first', 1],
      ['first', 2],
      ['first', 3],
    ]);
    expect(sessions[3]![0]).not.toBe('first');
    expect(sessions[3]![1]).toBe(1);
  });

  it('takes the cookie lifetime from data-session-minutes', () => {
    const b = fakeBrowser();
    b.open(SHOP, { 'session-minutes': '0.05' });
    expect(b.cookie()!.attributes).toContain('max-age=3');
  });

  it('sends user_login / user_registration with the customer and its hash; another customer or a logout starts a new session', async () => {
    const b = fakeBrowser();
    const { webevents } = b.open(SHOP, { auto: 'false' });
    const hash = 'f'.repeat(64); // what the store's backend signs (the collector verifies it)
    webevents('event', 'page_view');
    webevents('login', 'auth0|cust-1', hash); // a '|' in the id is kept whole
    // The cookie holds the session, never the customer id.
    expect(b.sessionCookie()).not.toContain('cust-1');
    expect(b.sessionCookie().split('|')).toHaveLength(3);
    webevents('login', 'auth0|cust-1', hash); // the same customer: the same session
    webevents('register', 42); // another customer: a new session
    webevents('login'); // no customer: ignored
    webevents('logout');
    webevents('event', 'page_view');
    await b.settle();
    const events = b.delivered();
    expect(events.map((e) => [e.n, e.cu, e.ch])).toEqual([
      ['page_view', undefined, undefined],
      ['user_login', 'auth0|cust-1', hash],
      ['user_login', 'auth0|cust-1', hash],
      ['user_registration', '42', undefined],
      ['page_view', undefined, undefined],
    ]);
    const s = events.map((e) => e.s);
    expect([s[0] === s[1], s[1] === s[2], s[2] === s[3], s[3] === s[4]]).toEqual([true, true, false, false]);
  });

  it('remembers an optout across pages (nothing kept, the cookie removed) until optin', async () => {
    const b = fakeBrowser();
    b.net.status = 0; // offline: the first events wait in the queue
    const first = b.open(SHOP);
    first.webevents('optout');
    expect(b.queued()).toEqual([]);
    expect(b.sessionCookie()).toBe('');
    expect(b.storage.get(OFF_KEY)).toBe('1');
    b.net.status = 204;
    const second = b.open(SHOP);
    second.webevents('event', 'product_view', { product: { id: 'sku-1' } });
    await b.settle();
    expect(b.delivered()).toEqual([]);
    second.webevents('optin');
    second.webevents('event', 'product_view', { product: { id: 'sku-1' } });
    await b.settle();
    expect(names(b.delivered())).toEqual(['user_visit', 'product_view']);
  });

  it('sends page_view on pushState and popstate to a new URL, and no automatic event with data-auto="false"', async () => {
    const b = fakeBrowser();
    const { page, fire } = b.open('https://shop.example/');
    page.history.pushState(null, '', '/mugs');
    page.history.pushState(null, '', '/mugs'); // the same URL again: no second view
    page.location.href = 'https://shop.example/';
    fire('popstate');
    await b.settle();
    expect(b.delivered().map((e) => [e.n, e.u])).toEqual([
      ['user_visit', 'https://shop.example/'],
      ['page_view', 'https://shop.example/'],
      ['page_view', 'https://shop.example/mugs'],
      ['page_view', 'https://shop.example/'],
    ]);

    const manual = fakeBrowser();
    manual.open('https://shop.example/', { auto: 'false' }).page.history.pushState(null, '', '/mugs');
    await manual.settle();
    expect(manual.sent).toEqual([]);
  });
});
