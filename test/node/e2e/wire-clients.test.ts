import { createHmac, randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Analytics } from '@segment/analytics-node';
import { buildAddToCart, buildEcommerceTransaction, buildPageView, buildSelfDescribingEvent, newTracker } from '@snowplow/node-tracker';
import { PostHog } from 'posthog-node';
import { describe, expect, it } from 'vitest';
import { ADMIN_TOKEN, sharedCollector } from './harness';

/**
 * Segment's, Snowplow's and PostHog's own client libraries, pointed at the collector (issue 15):
 * each sends an anonymous visitor's page and product views, a login, then an order; we read the
 * result back through our partner API. Between them and the collector, a proxy that answers the
 * first batch with a 503 after the collector took it, so each client's retry is a real one.
 */

const collector = sharedCollector();
const CHROME = 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.0.0 Safari/537.36';

interface Source {
  id: string;
  secret_key: string;
  public_key: string;
  identity_secret: string;
}
interface LiveSession {
  session: { customer_id: string | null; deanonymized_by: string | null; event_count: number };
  events: { event_id: string; name: string; customer_id: string | null; context: Record<string, unknown> | null; params: Record<string, unknown> | null }[];
}

async function serverSource(kind = 'server'): Promise<Source> {
  const res = await fetch(`${collector.url}/api/v1/admin/sources`, {
    method: 'POST',
    headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
    body: JSON.stringify({ id: `wire-${randomUUID().slice(0, 8)}`, name: 'Wire clients', kind, allowed_origins: ['https://shop.example'] }),
  });
  return (await res.json()) as Source;
}

const read = (req: IncomingMessage) =>
  new Promise<Buffer>((resolve) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks)));
  });

/** Forwards to the collector; the first POST is forwarded, then answered 503 (the client must retry it). */
async function flakyProxy() {
  const posts: number[] = [];
  const server: Server = createServer(async (req, res) => {
    const body = await read(req);
    const headers = Object.fromEntries(Object.entries(req.headers).filter(([k]) => !['host', 'connection', 'content-length'].includes(k))) as Record<
      string,
      string
    >;
    const answer = await fetch(`${collector.url}${req.url}`, { method: req.method, headers, body: req.method === 'GET' ? undefined : new Uint8Array(body) });
    const text = await answer.text();
    if (req.method === 'POST') posts.push(answer.status);
    if (req.method === 'POST' && posts.length === 1) {
      res.writeHead(503, { 'retry-after': '0' }).end('try again');
      return;
    }
    res.writeHead(answer.status, { 'content-type': answer.headers.get('content-type') ?? 'text/plain' }).end(text);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}`, port, posts, stop: () => new Promise((r) => server.close(r)) };
}

async function partner<T>(source: Source, path: string): Promise<T> {
  const res = await fetch(`${collector.url}${path}`, { headers: { authorization: `Bearer ${source.secret_key}` } });
  expect(res.status).toBe(200);
  return (await res.json()) as T;
}

/** The customer's one session, read live from its object through the partner API. */
async function customerSession(source: Source, customerId: string) {
  const { sessions } = await partner<{ sessions: { session_id: string }[] }>(source, `/api/v1/customers/${customerId}/sessions`);
  expect(sessions).toHaveLength(1);
  return partner<LiveSession>(source, `/api/v1/sessions/${source.id}/${sessions[0]!.session_id}`);
}

/** Waits for the customer's session to reach D1 (flushed within FLUSH_DELAY_S of the login). */
async function settled(source: Source, customerId: string, events: number) {
  const until = Date.now() + 20_000;
  for (;;) {
    const { sessions } = await partner<{ sessions: { event_count: number }[] }>(source, `/api/v1/customers/${customerId}/sessions`);
    if (sessions[0]?.event_count === events) return;
    if (Date.now() > until) throw new Error(`the session of ${customerId} has not reached D1 with ${events} events: ${JSON.stringify(sessions)}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

describe('real client libraries, one host name changed', () => {
  it('@segment/analytics-node: page and product views, identify, order: one session, de-anonymized, in order, stored once despite a retry', async () => {
    const source = await serverSource();
    const proxy = await flakyProxy();
    const analytics = new Analytics({ writeKey: source.secret_key, host: proxy.url, flushInterval: 50, maxRetries: 5 });
    const anonymousId = randomUUID();
    analytics.page({ anonymousId, name: 'Mug', properties: { url: 'https://shop.example/p/mug', title: 'Mug' } });
    analytics.track({ anonymousId, event: 'Product Viewed', properties: { product_id: 'sku-1', name: 'Mug', price: 9.5, currency: 'EUR' } });
    analytics.identify({ anonymousId, userId: 'cust-segment', traits: { plan: 'gold' } });
    // After the login the store's server knows the customer only.
    analytics.track({
      userId: 'cust-segment',
      event: 'Order Completed',
      properties: { order_id: 'o-1', total: 9.5, currency: 'EUR', products: [{ product_id: 'sku-1', quantity: 1, price: 9.5 }] },
    });
    await analytics.closeAndFlush();
    await proxy.stop();
    expect(proxy.posts.length).toBeGreaterThanOrEqual(2); // the 503, then the retry

    await settled(source, 'cust-segment', 4);
    const live = await customerSession(source, 'cust-segment');
    expect(live.session).toMatchObject({ customer_id: 'cust-segment', event_count: 4 });
    expect(live.events.map((e) => [e.name, e.customer_id])).toEqual([
      ['page_view', 'cust-segment'],
      ['product_view', 'cust-segment'],
      ['identify', 'cust-segment'],
      ['order_complete', 'cust-segment'],
    ]);
    expect(live.events[1]!.context).toMatchObject({ type: 'product', id: 'sku-1', price: 9.5, currency: 'EUR' });
    expect(live.events[3]!.context).toMatchObject({ type: 'order', id: 'o-1', total: 9.5 });
  });

  it('posthog-node: $pageview, a product view, $identify, order: one session, de-anonymized, stored once despite a retry', async () => {
    const source = await serverSource();
    const proxy = await flakyProxy();
    const posthog = new PostHog(source.secret_key, { host: proxy.url, flushAt: 10, flushInterval: 0, fetchRetryCount: 5, fetchRetryDelay: 50 });
    const anonymous = randomUUID();
    posthog.capture({ distinctId: anonymous, event: '$pageview', properties: { $current_url: 'https://shop.example/p/mug', title: 'Mug' } });
    posthog.capture({ distinctId: anonymous, event: 'Product Viewed', properties: { product_id: 'sku-1', name: 'Mug', price: 9.5, currency: 'EUR' } });
    posthog.identify({ distinctId: 'cust-posthog', properties: { $anon_distinct_id: anonymous, plan: 'gold' } });
    posthog.capture({ distinctId: 'cust-posthog', event: 'Order Completed', properties: { order_id: 'o-2', total: 9.5, currency: 'EUR' } });
    await posthog.shutdown();
    await proxy.stop();
    expect(proxy.posts.length).toBeGreaterThanOrEqual(2);

    await settled(source, 'cust-posthog', 4);
    const live = await customerSession(source, 'cust-posthog');
    expect(live.events.map((e) => [e.name, e.customer_id])).toEqual([
      ['page_view', 'cust-posthog'],
      ['product_view', 'cust-posthog'],
      ['identify', 'cust-posthog'],
      ['order_complete', 'cust-posthog'],
    ]);
    expect(live.events[1]!.context).toMatchObject({ type: 'product', id: 'sku-1', price: 9.5 });
    expect(live.events[2]!.params).toMatchObject({ original_name: '$identify', plan: 'gold' });
  });

  it('@snowplow/node-tracker: page view, add to cart, the user id set, transaction: one session, de-anonymized, stored once despite a retry', async () => {
    const source = await serverSource();
    const proxy = await flakyProxy();
    const tracker = newTracker(
      { namespace: 'shop', appId: source.secret_key, encodeBase64: true },
      { endpoint: '127.0.0.1', protocol: 'http', port: proxy.port, eventMethod: 'post', bufferSize: 5 },
    );
    tracker.setDomainUserId(randomUUID());
    tracker.track(buildPageView({ pageUrl: 'https://shop.example/p/mug', pageTitle: 'Mug' }));
    tracker.track(
      buildSelfDescribingEvent({
        event: { schema: 'iglu:com.snowplowanalytics.snowplow.ecommerce/snowplow_ecommerce_action/jsonschema/1-0-2', data: { type: 'product_view' } },
      }),
      [
        {
          schema: 'iglu:com.snowplowanalytics.snowplow.ecommerce/product/jsonschema/1-0-0',
          data: { id: 'sku-1', name: 'Mug', price: 9.5, currency: 'EUR', category: 'mugs' },
        },
      ],
    );
    tracker.track(buildAddToCart({ sku: 'sku-1', quantity: 2, name: 'Mug', unitPrice: 9.5, currency: 'EUR' }));
    tracker.setUserId('cust-snowplow');
    tracker.track(buildEcommerceTransaction({ orderId: 'o-3', total: 19, currency: 'EUR' }));
    await tracker.flush();
    // The tracker retries a 503 on its next send: one more event, then a flush.
    tracker.track(buildPageView({ pageUrl: 'https://shop.example/thanks', pageTitle: 'Thanks' }));
    await tracker.flush();
    await proxy.stop();
    expect(proxy.posts.length).toBeGreaterThanOrEqual(2);

    await settled(source, 'cust-snowplow', 5);
    const live = await customerSession(source, 'cust-snowplow');
    expect(live.events.map((e) => [e.name, e.customer_id])).toEqual([
      ['page_view', 'cust-snowplow'],
      ['product_view', 'cust-snowplow'],
      ['container_add', 'cust-snowplow'],
      ['order_complete', 'cust-snowplow'],
      ['page_view', 'cust-snowplow'],
    ]);
    expect(live.events[1]!.context).toMatchObject({ type: 'product', id: 'sku-1', price: 9.5, currency: 'EUR' });
    expect(live.events[2]!.context).toMatchObject({ type: 'product', id: 'sku-1', container: 'cart', quantity: 2 });
  });

  it("a shopper's own valid hash on the public key, sent by posthog-node and analytics-node, takes none of the sessions the store's server made", async () => {
    const source = await serverSource('website');
    const victim = `cust-${randomUUID().slice(0, 8)}`; // posthog-node's distinct id: the store's own customer id
    const victimDevice = randomUUID();
    const server = new PostHog(source.secret_key, { host: collector.url, flushAt: 10, flushInterval: 0 });
    server.capture({ distinctId: victim, event: '$pageview', properties: { $current_url: 'https://shop.example/' } });
    server.capture({ distinctId: victim, event: 'Order Completed', properties: { order_id: 'o-v', total: 80, currency: 'EUR' } });
    await server.flush();
    const serverSegment = new Analytics({ writeKey: source.secret_key, host: collector.url, flushInterval: 50 });
    serverSegment.track({ anonymousId: victimDevice, event: 'Product Viewed', properties: { product_id: 'sku-v', price: 80 } });
    await serverSegment.closeAndFlush();

    // The shopper, logged in, holds their own valid hash and a public key, and names the victim's ids.
    const attacker = `att-${randomUUID().slice(0, 8)}`;
    const hash = createHmac('sha256', source.identity_secret).update(attacker).digest('hex');
    // Sent as from a browser (a bot's user agent is dropped on a public key, as on the tracker).
    const asBrowser = <T extends { headers: Record<string, string> }>(url: string, init: T) => {
      const headers = Object.fromEntries(Object.entries(init.headers).filter(([k]) => k.toLowerCase() !== 'user-agent'));
      return fetch(url, { ...init, headers: { ...headers, 'user-agent': CHROME } } as RequestInit);
    };
    const shopper = new PostHog(source.public_key, { host: collector.url, flushAt: 10, flushInterval: 0, fetch: asBrowser });
    shopper.capture({ distinctId: attacker, event: '$identify', properties: { $anon_distinct_id: victim, $customer_hash: hash } });
    await shopper.shutdown();
    const shopperSegment = new Analytics({ writeKey: source.public_key, host: collector.url, flushInterval: 50, httpClient: asBrowser });
    shopperSegment.identify({ userId: attacker, anonymousId: victimDevice, context: { customer_hash: hash } });
    await shopperSegment.closeAndFlush();

    // The store's server then identifies its customer on both: their sessions reach D1 as theirs.
    server.identify({ distinctId: victim, properties: { $anon_distinct_id: victim } });
    await server.shutdown();
    const serverIdentify = new Analytics({ writeKey: source.secret_key, host: collector.url, flushInterval: 50 });
    serverIdentify.identify({ userId: victim, anonymousId: victimDevice });
    await serverIdentify.closeAndFlush();
    // Both of the victim's sessions in D1 (written after the store's identify), then read live.
    const until = Date.now() + 20_000;
    let sessions: { session_id: string; event_count: number }[] = [];
    while (sessions.length < 2) {
      if (Date.now() > until) throw new Error(`the victim's sessions have not reached D1: ${JSON.stringify(sessions)}`);
      await new Promise((r) => setTimeout(r, 250));
      ({ sessions } = await partner<{ sessions: { session_id: string; event_count: number }[] }>(source, `/api/v1/customers/${victim}/sessions`));
    }
    const events = await Promise.all(
      sessions.map(async (x) =>
        (await partner<LiveSession>(source, `/api/v1/sessions/${source.id}/${x.session_id}`)).events.map((e) => [e.name, e.customer_id]),
      ),
    );
    expect(events.sort((a, b) => b.length - a.length)).toEqual([
      [
        ['page_view', victim],
        ['order_complete', victim],
        ['identify', victim], // the shopper's: a claim in the victim's session, attributed as all of it
        ['identify', victim],
      ],
      [
        ['product_view', victim],
        ['identify', victim],
        ['identify', victim],
      ],
    ]);
    const taken = await partner<{ sessions: unknown[] }>(source, `/api/v1/customers/${attacker}/sessions`);
    expect(taken.sessions).toEqual([]);
  });
});
