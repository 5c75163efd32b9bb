import { runDurableObjectAlarm, runInDurableObject } from 'cloudflare:test';
import { env } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import { eventName } from '../src/wire/mapping';
import { call, createSource, SHOP, unique } from './fixtures/api';
import { readSession } from './fixtures/sessions';

const basic = (key: string) => `Basic ${btoa(`${key}:`)}`;
const iso = (minutesAgo: number) => new Date(Date.now() - minutesAgo * 60_000).toISOString();

interface Results {
  results: { status: string; event_id: string | null; session_id?: string | null; error?: { details: { path: string }[] } }[];
}

async function segmentBatch(key: string, batch: unknown[], headers: Record<string, string> = {}) {
  return call('/v1/batch', { method: 'POST', headers: { authorization: basic(key), ...headers }, json: { batch, sentAt: new Date().toISOString() } });
}

describe('wire names', () => {
  it("maps Segment's e-commerce spec names to ours and normalizes any other", () => {
    expect(eventName('Product Viewed')).toEqual({ name: 'product_view' });
    expect(eventName('Product Added')).toEqual({ name: 'container_add', container: 'cart' });
    expect(eventName('Order Completed')).toEqual({ name: 'order_complete' });
    expect(eventName('Signed In')).toEqual({ name: 'user_login' });
    expect(eventName('Low Rating Given')).toEqual({ name: 'low_rating_given' });
    expect(eventName('  Größe gewählt!! ')).toEqual({ name: 'gr_e_gew_hlt' });
    expect(eventName('!!!')).toEqual({ name: 'custom_event' });
  });
});

describe('Segment HTTP Tracking API', () => {
  it('stores a batch as web events in one collector-made session, a bad message refused alone, the name as sent kept', async () => {
    const source = await createSource();
    const anonymousId = unique('anon');
    const res = await segmentBatch(source.secret_key, [
      { type: 'page', messageId: unique('m'), anonymousId, timestamp: iso(3), properties: { url: `${SHOP}/p/1`, title: 'Mug' } },
      {
        type: 'track',
        messageId: unique('m'),
        anonymousId,
        timestamp: iso(2),
        event: 'Product Viewed',
        properties: { product_id: 'sku-1', name: 'Mug', price: 9.5, currency: 'eur', colour: 'red' },
      },
      { type: 'track', messageId: unique('m'), anonymousId, timestamp: iso(1) }, // no event name
      { type: 'track', messageId: unique('m'), anonymousId, timestamp: iso(1), event: 'Low Rating Given', properties: { rating: 2 } },
    ]);
    expect(res.status).toBe(200);
    const body = (await res.json()) as Results;
    expect(body.results.map((r) => r.status)).toEqual(['accepted', 'accepted', 'rejected', 'accepted']);
    expect(body.results[2]!.error!.details[0]!.path).toBe('event');
    const sessions = new Set(body.results.filter((r) => r.status === 'accepted').map((r) => r.session_id));
    expect(sessions.size).toBe(1);
    const [sessionId] = [...sessions];

    const live = await readSession(source.id, sessionId!, source.secret_key);
    expect(live.body.events.map((e) => [e.name, e.params])).toEqual([
      ['page_view', null],
      ['product_view', { original_name: 'Product Viewed', colour: 'red' }],
      ['low_rating_given', { original_name: 'Low Rating Given', rating: 2 }],
    ]);
    expect(live.body.events[0]!.page).toMatchObject({ url: `${SHOP}/p/1`, title: 'Mug' });
    expect(live.body.events[1]!.context).toEqual({ type: 'product', id: 'sku-1', name: 'Mug', price: 9.5, currency: 'EUR' });
    expect(live.body.events.every((e) => e.channel === 'api' && e.customer_id === null)).toBe(true);
  });

  it('a write key that names no source is a 401; malformed JSON a 400', async () => {
    const res = await segmentBatch('sk_nothing_of_ours_0000000000000000', [{ type: 'track', event: 'X', anonymousId: 'a' }]);
    expect(res.status).toBe(401);
    const source = await createSource();
    const bad = await call('/v1/batch', {
      method: 'POST',
      headers: { authorization: basic(source.secret_key), 'content-type': 'application/json' },
      body: '{"batch": [',
    });
    expect(bad.status).toBe(400);
  });

  it("a website source's public key is refused from an origin it does not allow, taken from its own", async () => {
    const source = await createSource({ kind: 'website', allowed_origins: [SHOP] });
    const message = { type: 'track', event: 'Clicked', anonymousId: unique('a'), messageId: unique('m'), timestamp: iso(0) };
    expect((await segmentBatch(source.public_key, [message], { origin: 'https://evil.example' })).status).toBe(403);
    const ok = await segmentBatch(source.public_key, [message], { origin: SHOP });
    expect(ok.status).toBe(200);
    expect(ok.headers.get('access-control-allow-origin')).toBe(SHOP);
  });

  it('a retried message is stored once; an identify with the secret key de-anonymizes the session, before and after', async () => {
    const source = await createSource();
    const anonymousId = unique('anon');
    const view = {
      type: 'track',
      messageId: 'msg with spaces/1',
      anonymousId,
      timestamp: iso(5),
      event: 'Product Viewed',
      properties: { sku: 'sku-9', price: 20 },
    };
    const first = (await (await segmentBatch(source.secret_key, [view])).json()) as Results;
    const retry = (await (await segmentBatch(source.secret_key, [view])).json()) as Results;
    expect(first.results[0]).toMatchObject({ status: 'accepted' });
    // An id outside our alphabet is hashed, the same way every time; the retry finds the same session.
    expect(retry.results[0]).toEqual({ ...first.results[0], status: 'duplicate' });
    expect(first.results[0]!.event_id).toMatch(/^h-[0-9a-f]{40}$/);

    const identify = { type: 'identify', messageId: unique('m'), anonymousId, userId: 'cust-42', timestamp: iso(4), traits: { plan: 'gold' } };
    const order = {
      type: 'track',
      messageId: unique('m'),
      anonymousId,
      userId: 'cust-42',
      timestamp: iso(3),
      event: 'Order Completed',
      properties: { order_id: 'o-1', total: 20, currency: 'EUR', products: [{ product_id: 'sku-9', quantity: 1, price: 20 }] },
    };
    const later = (await (await segmentBatch(source.secret_key, [identify, order])).json()) as Results;
    const sessionId = first.results[0]!.session_id!;
    expect(later.results.map((r) => r.session_id)).toEqual([sessionId, sessionId]);
    const live = await readSession(source.id, sessionId, source.secret_key);
    expect(live.body.session).toMatchObject({ customer_id: 'cust-42', deanonymized_by: 'event' });
    expect(live.body.events.map((e) => [e.name, e.customer_id])).toEqual([
      ['product_view', 'cust-42'],
      ['identify', 'cust-42'],
      ['order_complete', 'cust-42'],
    ]);
    expect(live.body.events[0]!.context).toMatchObject({ type: 'product', id: 'sku-9', price: 20 });
    expect(live.body.events[2]!.context).toMatchObject({ type: 'order', id: 'o-1', total: 20, items: [{ product_id: 'sku-9', quantity: 1 }] });
  });

  it('a message past the inactivity timeout starts a new session; one within it, even sent later, joins its own', async () => {
    const source = await createSource({ session_timeout_s: 600 });
    const anonymousId = unique('anon');
    const at = (m: number) => ({ type: 'track', messageId: unique('m'), anonymousId, timestamp: iso(m), event: 'tick' });
    const one = (await (await segmentBatch(source.secret_key, [at(60), at(55), at(20)])).json()) as Results;
    const [a, b, c] = one.results.map((r) => r.session_id);
    expect(a).toBe(b);
    expect(c).not.toBe(a);
    // A late batch: its message of 50 minutes ago belongs to the first session (within 10 minutes of its last).
    const late = (await (await segmentBatch(source.secret_key, [at(50), at(19)])).json()) as Results;
    expect(late.results.map((r) => r.session_id)).toEqual([a, c]);
  });

  it('a retry goes back to the session it went to, however a later session has grown toward it since (found by the simulation)', async () => {
    const source = await createSource({ session_timeout_s: 3600 });
    const anonymousId = unique('anon');
    const at = (m: number) => ({ type: 'track', messageId: unique('m'), anonymousId, timestamp: iso(m), event: 'tick' });
    const first = (await (await segmentBatch(source.secret_key, [at(0)])).json()) as Results;
    // 62 minutes back: its own session; 2 minutes back: the first one's, whose reach then covers 62 minutes back.
    const batch = [at(62), at(2)];
    const sent = (await (await segmentBatch(source.secret_key, batch)).json()) as Results;
    expect(sent.results[1]!.session_id).toBe(first.results[0]!.session_id);
    expect(sent.results[0]!.session_id).not.toBe(first.results[0]!.session_id);
    const retried = (await (await segmentBatch(source.secret_key, batch)).json()) as Results;
    expect(retried.results.map((r) => [r.status, r.session_id])).toEqual(sent.results.map((r) => ['duplicate', r.session_id]));
  });
});

describe('PostHog capture', () => {
  const capture = (key: string, distinctId: string, event: string, properties: Record<string, unknown> = {}) => ({
    api_key: key,
    batch: [{ event, distinct_id: distinctId, properties, timestamp: iso(1), uuid: crypto.randomUUID() }],
  });

  it("takes posthog-js's gzip-js and base64 form bodies, answers /flags empty, and maps $pageview", async () => {
    const source = await createSource();
    const distinctId = unique('d');
    const gz = new Response(
      new Blob([JSON.stringify(capture(source.secret_key, distinctId, '$pageview', { $current_url: `${SHOP}/`, $referrer: '$direct' }))])
        .stream()
        .pipeThrough(new CompressionStream('gzip')),
    );
    const zipped = await call('/e/?compression=gzip-js', { method: 'POST', headers: { 'content-type': 'text/plain' }, body: await gz.arrayBuffer() });
    expect(zipped.status).toBe(200);
    const form = `data=${encodeURIComponent(btoa(JSON.stringify(capture(source.secret_key, distinctId, 'Product Viewed', { product_id: 'sku-2', price: 3 }))))}`;
    const formed = await call('/batch/', { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: form });
    expect(formed.status).toBe(200);
    const [a, b] = [((await zipped.json()) as Results).results[0]!, ((await formed.json()) as Results).results[0]!];
    expect([a.status, b.status]).toEqual(['accepted', 'accepted']);
    expect(b.session_id).toBe(a.session_id);
    const live = await readSession(source.id, a.session_id!, source.secret_key);
    expect(live.body.events.map((e) => [e.name, e.page?.url ?? null, e.page?.referrer ?? null])).toEqual([
      ['page_view', `${SHOP}/`, null],
      ['product_view', null, null],
    ]);
    const flags = await call('/flags/?v=2', { method: 'POST', json: { token: source.public_key, distinct_id: distinctId } });
    expect(await flags.json()).toMatchObject({ featureFlags: {}, flags: {} });
  });

  it('an $identify on a public key without a customer hash is refused where proof is required, else a claim: kept, never attributed', async () => {
    const strict = await createSource({ kind: 'mobile_app' });
    const refused = await call('/batch', { method: 'POST', json: capture(strict.public_key, 'cust-x', '$identify', { $anon_distinct_id: unique('anon') }) });
    expect(((await refused.json()) as Results).results[0]).toMatchObject({ status: 'rejected', error: { details: [{ path: 'customer_hash' }] } });

    const source = await createSource({ kind: 'mobile_app', require_verified_identity: false });
    const anon = unique('anon');
    await call('/batch', { method: 'POST', json: capture(source.public_key, anon, '$screen', { $screen_name: 'Home' }) });
    const res = await call('/batch', { method: 'POST', json: capture(source.public_key, 'cust-x', '$identify', { $anon_distinct_id: anon }) });
    const [r] = ((await res.json()) as Results).results;
    expect(r).toMatchObject({ status: 'accepted' });
    const live = await readSession(source.id, r!.session_id!, source.secret_key);
    expect(live.body.session.customer_id).toBeNull();
    expect(live.body.events.map((e) => [e.name, e.channel, e.customer_id, e.claimed_customer_id, e.flags])).toEqual([
      ['screen_view', 'sdk', null, null, []],
      ['identify', 'sdk', null, 'cust-x', ['unverified_identity']],
    ]);
  });
});

describe('Snowplow tracker protocol', () => {
  it('the /i pixel stores a query-string page view (aid: the public key) and answers a GIF; a bad event is a 400 with the reason', async () => {
    const source = await createSource({ kind: 'website', allowed_origins: [SHOP] });
    const sid = crypto.randomUUID();
    const q = new URLSearchParams({
      e: 'pv',
      aid: source.public_key,
      eid: crypto.randomUUID(),
      sid,
      duid: 'd-1',
      url: `${SHOP}/x`,
      page: 'X',
      dtm: String(Date.now() - 1000),
      stm: String(Date.now()),
    });
    const res = await call(`/i?${q}`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('image/gif');
    const live = await readSession(source.id, sid, source.secret_key);
    expect(live.body.events.map((e) => [e.name, e.page?.title])).toEqual([['page_view', 'X']]);
    const bad = await call(`/i?${new URLSearchParams({ e: 'zz', aid: source.public_key, sid })}`);
    expect(bad.status).toBe(400);
    expect(bad.headers.get('x-refused')).toContain('e:');
  });

  it('a tp2 batch keeps its good events when one is malformed, and a structured event becomes its action', async () => {
    const source = await createSource();
    const sid = crypto.randomUUID();
    const ev = (fields: Record<string, string>) => ({ aid: source.secret_key, sid, duid: 'd-2', eid: crypto.randomUUID(), dtm: String(Date.now()), ...fields });
    const res = await call('/com.snowplowanalytics.snowplow/tp2', {
      method: 'POST',
      json: {
        schema: 'iglu:com.snowplowanalytics.snowplow/payload_data/jsonschema/1-0-4',
        data: [ev({ e: 'se', se_ca: 'video', se_ac: 'Play Clicked', se_va: '3' }), ev({ e: 'ue', ue_pr: '{not json' }), ev({ e: 'pp' })],
      },
    });
    const { results } = (await res.json()) as Results;
    expect(results.map((r) => r.status)).toEqual(['accepted', 'rejected', 'accepted']);
    expect(results[1]!.error!.details[0]!.path).toBe('ue_pr');
    const live = await readSession(source.id, sid, source.secret_key);
    expect(live.body.events.map((e) => [e.name, e.params])).toEqual([
      ['play_clicked', { original_name: 'Play Clicked', category: 'video', value: 3 }],
      ['page_ping', null],
    ]);
  });
});

describe('analytics.js in a page', () => {
  it("serves the settings analytics.js loads, pointing back here, for a website source's public key only", async () => {
    const source = await createSource({ kind: 'website', allowed_origins: [SHOP] });
    const res = await call(`/v1/projects/${source.public_key}/settings`);
    expect(res.status).toBe(200);
    const settings = (await res.json()) as { integrations: { 'Segment.io': { apiKey: string; apiHost: string } } };
    expect(settings.integrations['Segment.io']).toMatchObject({ apiKey: source.public_key, apiHost: 'collector.test/v1', protocol: 'https' });
    // A secret key in a URL is refused before any lookup (request logs keep URLs: docs/security.md).
    expect((await call(`/v1/projects/${source.secret_key}/settings`)).status).toBe(400);
    const server = await createSource();
    expect((await call(`/v1/projects/${server.public_key}/settings`)).status).toBe(404);
  });

  it("takes the short paths' text/plain bodies with the write key inside", async () => {
    const source = await createSource({ kind: 'website', allowed_origins: [SHOP] });
    const res = await call('/v1/t', {
      method: 'POST',
      headers: { 'content-type': 'text/plain', origin: SHOP },
      body: JSON.stringify({ writeKey: source.public_key, event: 'Newsletter Signed', anonymousId: unique('a'), messageId: unique('m'), timestamp: iso(0) }),
    });
    expect(res.status).toBe(200);
    const { results } = (await res.json()) as Results;
    expect(results[0]).toMatchObject({ status: 'accepted' });
    const live = await readSession(source.id, results[0]!.session_id!, source.secret_key);
    expect(live.body.events.map((e) => [e.name, e.channel])).toEqual([['newsletter_signed', 'tracker']]);
  });

  it('refuses a batch over 500 KB with a 400, as Segment does', async () => {
    const source = await createSource();
    const big = 'x'.repeat(20_000);
    const batch = Array.from({ length: 30 }, () => ({ type: 'track', event: 'Big', anonymousId: 'a', properties: { big } }));
    expect((await segmentBatch(source.secret_key, batch)).status).toBe(400);
  });
});

describe('what the collector keeps of a visitor', () => {
  const held = (sourceId: string, visitor: string) =>
    runInDurableObject(env.VISITORS.getByName(`${sourceId}:${visitor}`), async (_o, state) => [...(await state.storage.list()).keys()]);

  it('is deleted ANON_RETENTION_DAYS after the visitor’s last message, not before', async () => {
    const source = await createSource();
    const [old, recent] = [unique('old'), unique('recent')];
    const at = (visitor: string, daysAgo: number) => ({
      type: 'track',
      event: 'x',
      anonymousId: visitor,
      messageId: unique('m'),
      timestamp: new Date(Date.now() - daysAgo * 86_400_000).toISOString(),
    });
    expect((await segmentBatch(source.secret_key, [at(old, 61), at(recent, 59)])).status).toBe(200);
    for (const v of [old, recent]) await runDurableObjectAlarm(env.VISITORS.getByName(`${source.id}:a:${v}`));
    expect(await held(source.id, `a:${old}`)).toEqual([]);
    expect(await held(source.id, `a:${recent}`)).toEqual(['partner', 'spans']);
  });

  it("is deleted with the customer's erasure: their own object and the visitor it followed", async () => {
    const source = await createSource();
    const anonymousId = unique('anon');
    await segmentBatch(source.secret_key, [{ type: 'identify', userId: 'cust-erase-wire', anonymousId, messageId: unique('m'), timestamp: iso(1) }]);
    expect(await held(source.id, 'c:cust-erase-wire')).toEqual(['follow']);
    expect(await held(source.id, `a:${anonymousId}`)).toEqual(['followed', 'partner', 'spans']);
    expect((await call('/api/v1/customers/cust-erase-wire', { method: 'DELETE', token: source.secret_key })).status).toBe(200);
    expect(await held(source.id, 'c:cust-erase-wire')).toEqual([]);
    expect(await held(source.id, 'a:cust-erase-wire')).toEqual([]);
    expect(await held(source.id, `a:${anonymousId}`)).toEqual([]);
  });
});

describe('what a sender cannot do', () => {
  it("a public key's message naming only a user id never joins that customer's sessions", async () => {
    const source = await createSource({ kind: 'website', allowed_origins: [SHOP], require_verified_identity: false });
    const anonymousId = unique('anon');
    // The store's server proves the customer on this device (secret key): their session is identified.
    const proven = (await (
      await segmentBatch(source.secret_key, [{ type: 'identify', userId: 'cust-target', anonymousId, messageId: unique('m'), timestamp: iso(1) }])
    ).json()) as Results;
    const victim = proven.results[0]!.session_id!;
    // Anyone with the public key sends as that user id: the message is a claim in a session of its own.
    const forged = (await (
      await segmentBatch(
        source.public_key,
        [{ type: 'track', event: 'Order Completed', userId: 'cust-target', messageId: unique('m'), timestamp: iso(0), properties: { order_id: 'x' } }],
        {
          origin: SHOP,
        },
      )
    ).json()) as Results;
    expect(forged.results[0]!.session_id).not.toBe(victim);
    const live = await readSession(source.id, victim, source.secret_key);
    expect(live.body.events.map((e) => e.name)).toEqual(['identify']);
  });

  it('refuses alone a message with an impossible time or nested too deep, and a request of more than 500 messages', async () => {
    const source = await createSource();
    let deep: unknown = 1;
    for (let i = 0; i < 40; i++) deep = [deep];
    const ok = { type: 'track', event: 'ok', anonymousId: unique('a'), messageId: unique('m'), timestamp: iso(0) };
    const res = await segmentBatch(source.secret_key, [
      ok,
      { ...ok, messageId: unique('m'), timestamp: -1e16 },
      { ...ok, messageId: unique('m'), properties: { deep } },
    ]);
    expect(res.status).toBe(200);
    const { results } = (await res.json()) as Results;
    expect(results.map((r) => [r.status, r.error?.details[0]?.path ?? null])).toEqual([
      ['accepted', null],
      ['rejected', 'occurred_at'],
      ['rejected', '(message)'],
    ]);
    const many = Array.from({ length: 501 }, () => ({ ...ok, messageId: unique('m') }));
    expect((await segmentBatch(source.secret_key, many)).status).toBe(400);
    // analytics.js's batching delivery (/v1/b) is a batch too.
    const b = await call('/v1/b', {
      method: 'POST',
      headers: { authorization: basic(source.secret_key) },
      json: { batch: [{ ...ok, messageId: unique('m') }] },
    });
    expect(((await b.json()) as Results).results[0]!.status).toBe('accepted');
  });
});
