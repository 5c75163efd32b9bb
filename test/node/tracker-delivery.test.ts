import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { BATCH_MS, MAX_BODY, MAX_QUEUE, QUEUE_KEY } from '../../src/tracker/wire';
import { fakeBrowser, names } from './fake-browser';

const SHOP = 'https://shop.example/';
const manual = { auto: 'false' };

beforeEach(() => {
  vi.useFakeTimers({ now: Date.parse('2026-11-28T10:00:00Z') });
});
afterEach(() => {
  vi.useRealTimers();
});

describe('the tracker on a page: batching and delivery', () => {
  it('sends the first events at once, then batches what follows for BATCH_MS into one text/plain POST to the script path without .js', async () => {
    const b = fakeBrowser();
    const { webevents } = b.open(SHOP);
    await vi.advanceTimersByTimeAsync(0);
    expect(b.sent.map((s) => names(s.batch.e))).toEqual([['user_visit', 'page_view']]);
    webevents('event', 'product_view', { product: { id: 'sku-1' } });
    webevents('event', 'container_add', { product: { id: 'sku-1' }, container: 'cart', quantity: 2 });
    await vi.advanceTimersByTimeAsync(BATCH_MS - 1);
    expect(b.sent).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(b.sent).toHaveLength(2);
    expect(b.sent[1]).toMatchObject({ via: 'fetch', keepalive: true, url: 'https://collector.example/t', batch: { k: 'pk_test' } });
    expect(names(b.sent[1]!.batch.e)).toEqual(['product_view', 'container_add']);
    expect(b.storage.has(QUEUE_KEY)).toBe(false); // acknowledged: nothing kept
  });

  it('keeps what the network could not deliver, the newest MAX_QUEUE events, and the next page sends them', async () => {
    const b = fakeBrowser();
    b.net.status = 0;
    const { webevents } = b.open(SHOP, manual);
    for (let i = 0; i < MAX_QUEUE + 20; i++) webevents('event', 'page_view', undefined, { i });
    await b.settle();
    expect(b.queued()).toHaveLength(MAX_QUEUE);
    expect(b.queued()[0]!.p).toEqual({ i: 20 }); // the oldest went first

    b.net.status = 204;
    b.open(SHOP, manual); // the next page
    await b.settle();
    expect(b.queued()).toEqual([]);
    expect(b.delivered().map((e) => e.p)).toEqual(Array.from({ length: MAX_QUEUE }, (_, i) => ({ i: i + 20 })));
  });

  it('drops a batch the collector refused (4xx) but keeps one it could not take (429, 5xx)', async () => {
    for (const [status, kept] of [
      [400, 0],
      [403, 0],
      [429, 1],
      [503, 1],
    ] as const) {
      const b = fakeBrowser();
      b.net.status = status;
      b.open(SHOP, manual).webevents('event', 'search', { search: { query: 'mug' } });
      await b.settle();
      expect(b.queued(), `status ${status}`).toHaveLength(kept);
    }
  });

  it('splits what waits into batches of at most MAX_BODY bytes (counting UTF-8) and drops an event larger than that', async () => {
    const b = fakeBrowser();
    b.net.status = 0;
    const { webevents } = b.open(SHOP, manual);
    const name = 'Кружка '.repeat(400); // 2,800 characters, about 5,200 bytes
    for (let i = 0; i < 12; i++) webevents('event', 'product_view', { product: { id: `sku-${i}`, name } });
    webevents('event', 'product_view', { product: { id: 'huge', name: 'x'.repeat(MAX_BODY) } });
    expect(b.queued()).toHaveLength(12);
    b.net.status = 204;
    b.open(SHOP, manual);
    await b.settle();
    const posts = b.sent.filter((s) => s.status === 204);
    expect(posts.length).toBeGreaterThan(1);
    for (const post of posts) expect(new Blob([post.body]).size).toBeLessThanOrEqual(MAX_BODY + 100);
    expect(b.delivered().map((e) => (e.c as { product: { id: string } }).product.id)).toEqual(Array.from({ length: 12 }, (_, i) => `sku-${i}`));
  });

  it('hands what waits to sendBeacon when the page is hidden or left, and keeps it until a later page confirms it', async () => {
    const b = fakeBrowser();
    const { webevents, hide, fire } = b.open(SHOP, manual);
    webevents('event', 'order_complete', { order: { id: 'o-1', total: 19 } });
    hide();
    expect(b.sent.map((s) => [s.via, names(s.batch.e)])).toEqual([['beacon', ['order_complete']]]);
    expect(b.queued()).toHaveLength(1); // a beacon's fate is unknown: the collector deduplicates the resend
    fire('pagehide');
    expect(b.sent.filter((s) => s.via === 'beacon')).toHaveLength(2);

    b.open(SHOP, manual);
    await b.settle();
    expect(b.queued()).toEqual([]);
    expect(b.sent.at(-1)).toMatchObject({ via: 'fetch', status: 204 });
  });

  it('falls back to fetch with keepalive when sendBeacon refuses the batch', async () => {
    const b = fakeBrowser();
    b.net.beacon = false;
    const { webevents, fire } = b.open(SHOP, manual);
    webevents('event', 'page_view');
    fire('pagehide');
    await vi.advanceTimersByTimeAsync(0);
    expect(b.sent).toHaveLength(1);
    expect(b.sent[0]).toMatchObject({ via: 'fetch', keepalive: true, status: 204 });
    expect(b.queued()).toEqual([]);
  });

  it('shares the queue between tabs: what one tab could not send is not overwritten by another', async () => {
    const b = fakeBrowser();
    b.net.status = 0;
    const one = b.open(SHOP, manual);
    const two = b.open(SHOP, manual);
    one.webevents('event', 'page_view', undefined, { tab: 1 });
    two.webevents('event', 'page_view', undefined, { tab: 2 });
    await b.settle();
    expect(b.queued().map((e) => e.p)).toEqual([{ tab: 1 }, { tab: 2 }]);
  });

  it('sends the context as it was when called, even if the page changes the object afterwards', async () => {
    const b = fakeBrowser();
    const product = { id: 'sku-1', price: 9.5 };
    b.open(SHOP, manual).webevents('event', 'product_view', { product });
    product.price = 12;
    await b.settle();
    expect(b.delivered()[0]!.c).toEqual({ product: { id: 'sku-1', price: 9.5 } });
  });

  it('never throws into the page: not on a context it cannot send, not when storage is blocked', async () => {
    const b = fakeBrowser();
    const { webevents } = b.open(SHOP, manual);
    const cyclic: Record<string, unknown> = { id: 'sku-1' };
    cyclic.self = cyclic;
    expect(() => webevents('event', 'product_view', { product: cyclic })).not.toThrow();
    webevents('event', 'page_view'); // the tracker goes on
    await b.settle();
    expect(names(b.delivered())).toEqual(['page_view']);

    b.net.storageFails = true;
    expect(() => b.open(SHOP).webevents('event', 'page_view')).not.toThrow();
    await b.settle();
  });
});
