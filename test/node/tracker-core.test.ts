import { describe, expect, it } from 'vitest';
import { BATCH_MS, createTracker, MAX_QUEUE, OFF_KEY, QUEUE_KEY, type Host, type WireEvent } from '../../src/tracker/core';

/** A browser made of plain data: a cookie with an expiry on a fake clock, storage, a network that answers `status`. */
function fakeBrowser(status = 204) {
  let clock = Date.parse('2026-11-28T10:00:00Z');
  let cookie = { value: '', expires: 0 };
  let ids = 0;
  const storage = new Map<string, string>();
  const sent: { body: { k: string; e: WireEvent[] }; unloading: boolean }[] = [];
  const timers: (() => void)[] = [];
  const net = { status };
  const host: Host = {
    now: () => clock,
    uuid: () => `id-${++ids}`,
    cookie: () => (clock < cookie.expires ? cookie.value : ''),
    setCookie: (value, maxAgeS) => (cookie = { value, expires: clock + maxAgeS * 1000 }),
    load: (k) => storage.get(k) ?? null,
    save: (k, v) => (v === null ? storage.delete(k) : storage.set(k, v)),
    send: async (body, unloading) => {
      sent.push({ body: JSON.parse(body) as { k: string; e: WireEvent[] }, unloading });
      return unloading ? -1 : net.status;
    },
    page: () => ({ u: 'https://shop.example/p?utm_source=mail&x=1', r: 'https://mail.example/' }),
    later: (fn) => void timers.push(fn),
  };
  const runTimers = async () => {
    while (timers.length) timers.shift()!();
    await new Promise((r) => setTimeout(r, 0));
  };
  const advance = (ms: number) => (clock += ms);
  const queued = () => JSON.parse(storage.get(QUEUE_KEY) ?? '[]') as WireEvent[];
  return { host, sent, storage, net, runTimers, advance, queued };
}

const options = { key: 'pk_test', lifetimeS: 3600, auto: true };
const names = (events: WireEvent[]) => events.map((e) => e.n);

describe('tracker logic', () => {
  it('starts a session with user_visit (utm params), numbers events, and batches them into one send', async () => {
    const b = fakeBrowser();
    const t = createTracker(b.host, options);
    t.command('event', 'page_view');
    t.command('event', 'product_view', { product: { id: 'sku-1', price: 9.5 } });
    expect(b.sent).toHaveLength(0); // batched for BATCH_MS
    await b.runTimers();
    expect(b.sent).toHaveLength(1);
    const [visit, view, product] = b.sent[0]!.body.e;
    expect(b.sent[0]!.body.k).toBe('pk_test');
    expect([visit!.n, view!.n, product!.n]).toEqual(['user_visit', 'page_view', 'product_view']);
    expect(visit!.p).toEqual({ utm_source: 'mail' });
    expect([visit!.q, view!.q, product!.q]).toEqual([1, 2, 3]);
    expect(new Set([visit!.s, view!.s, product!.s]).size).toBe(1);
    expect(product!.c).toEqual({ product: { id: 'sku-1', price: 9.5 } });
    expect(b.queued()).toEqual([]); // acknowledged, so nothing kept
    expect(BATCH_MS).toBeGreaterThan(0);
  });

  it('renews the cookie with every action and starts a new session after an hour without one', async () => {
    const b = fakeBrowser();
    const t = createTracker(b.host, options);
    t.command('event', 'page_view');
    b.advance(50 * 60_000);
    t.command('event', 'page_view'); // renews: the session lives on
    b.advance(50 * 60_000);
    t.command('event', 'page_view');
    b.advance(61 * 60_000);
    t.command('event', 'page_view'); // expired: a new session, with its own user_visit
    await b.runTimers();
    const events = b.sent.flatMap((s) => s.body.e);
    expect(names(events)).toEqual(['user_visit', 'page_view', 'page_view', 'page_view', 'user_visit', 'page_view']);
    const [first, second] = [events[0]!.s, events[4]!.s];
    expect(events.map((e) => e.s)).toEqual([first, first, first, first, second, second]);
    expect(second).not.toBe(first);
    expect(events.at(-1)!.q).toBe(2);
  });

  it('login as another customer and logout start new sessions; login as the same keeps it', async () => {
    const b = fakeBrowser();
    const t = createTracker(b.host, { ...options, auto: false });
    t.command('event', 'page_view');
    t.command('login', 'cust-1');
    t.command('login', 'cust-1');
    t.command('login', 'cust-2');
    t.command('logout');
    t.command('event', 'page_view');
    await b.runTimers();
    const events = b.sent.flatMap((s) => s.body.e);
    expect(events.map((e) => [e.n, e.cu])).toEqual([
      ['page_view', undefined], ['user_login', 'cust-1'], ['user_login', 'cust-1'], ['user_login', 'cust-2'], ['page_view', undefined],
    ]);
    const sessions = events.map((e) => e.s);
    expect(sessions[0]).toBe(sessions[2]);
    expect(new Set(sessions).size).toBe(3);
  });

  it('keeps events the network could not deliver, bounded to the newest MAX_QUEUE, and sends them once it can', async () => {
    const b = fakeBrowser(0); // offline
    const t = createTracker(b.host, { ...options, auto: false });
    for (let i = 0; i < MAX_QUEUE + 20; i++) t.command('event', 'page_view', undefined, { i });
    await b.runTimers();
    expect(b.queued()).toHaveLength(MAX_QUEUE);
    expect(b.queued()[0]!.p).toEqual({ i: 20 }); // the oldest went first

    // The next page: a new tracker over the same storage, online again.
    b.net.status = 204;
    const next = createTracker(b.host, { ...options, auto: false });
    next.flush(false);
    await b.runTimers();
    expect(b.queued()).toEqual([]);
    expect(b.sent.at(-1)!.body.e).toHaveLength(MAX_QUEUE);
  });

  it('drops a batch the collector refused (4xx) but keeps one it could not take (429, 5xx)', async () => {
    for (const [status, kept] of [[400, 0], [429, 1], [503, 1]] as const) {
      const b = fakeBrowser(status);
      createTracker(b.host, { ...options, auto: false }).command('event', 'x');
      await b.runTimers();
      expect(b.queued(), `status ${status}`).toHaveLength(kept);
    }
  });

  it('on page hide hands the batch to sendBeacon and keeps it until a later page confirms it', async () => {
    const b = fakeBrowser();
    const t = createTracker(b.host, { ...options, auto: false });
    t.command('event', 'container_add', { product: { id: 'p' }, container: 'cart' });
    t.flush(true);
    await b.runTimers();
    expect(b.sent[0]!.unloading).toBe(true);
    expect(b.queued()).toHaveLength(1); // a beacon's fate is unknown: the server deduplicates the retry
  });

  it('sends nothing after optout, remembers it, and sends again after optin', async () => {
    const b = fakeBrowser(0);
    const t = createTracker(b.host, options);
    t.command('event', 'page_view');
    t.command('optout');
    expect(b.queued()).toEqual([]);
    t.command('event', 'page_view');
    const later = createTracker(b.host, options); // remembered across pages
    later.command('event', 'page_view');
    await b.runTimers();
    expect(b.sent.flatMap((s) => s.body.e)).toEqual([]);
    expect(b.storage.get(OFF_KEY)).toBe('1');
    b.net.status = 204;
    later.command('optin');
    later.command('event', 'page_view');
    await b.runTimers();
    expect(names(b.sent.flatMap((s) => s.body.e))).toContain('page_view');
  });
});
