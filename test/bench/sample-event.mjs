// The bench's events, shared with the tests that check their shapes (test/fast-validate.test.ts):
// nothing here needs Node.

const PAGES = ['/', '/c/mugs', '/p/sku-1', '/p/sku-2', '/cart', '/search?q=mug'];

/** One web event in the shared input shape (docs/design.md §3), varied by its index in the request. */
export function sampleEvent(i, session, id, now) {
  const base = { event_id: id, session_id: session, occurred_at: now, seq: i };
  const page = { url: `https://shop.example${PAGES[i % PAGES.length]}`, referrer: i === 0 ? 'https://search.example/' : null, title: 'Bench shop' };
  switch (i % 4) {
    case 1:
      return { ...base, name: 'product_view', page, context: { type: 'product', id: `sku-${i}`, name: 'Mug', price: 9.5, currency: 'EUR', in_stock: true } };
    case 2:
      return {
        ...base,
        name: 'container_add',
        page,
        context: { type: 'product', id: `sku-${i}`, price: 9.5, currency: 'EUR', container: 'cart', quantity: 1 },
      };
    case 3:
      return { ...base, name: 'product_rated', page, context: { type: 'product', id: `sku-${i}` }, params: { rating: 4, section: 'reviews' } };
    default:
      return { ...base, name: 'page_view', page };
  }
}

/** The same event in the tracker's compact wire form (src/tracker/wire.ts, WireEvent). */
export const toWire = (e) => ({
  i: e.event_id,
  s: e.session_id,
  n: e.name,
  t: Date.parse(e.occurred_at),
  q: e.seq,
  u: e.page.url,
  r: e.page.referrer ?? undefined,
  c: e.context,
  p: e.params,
});
