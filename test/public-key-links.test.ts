import { runInDurableObject } from 'cloudflare:test';
import { env } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import { customerHash } from '../src/sources/identity';
import { beacon, type CreatedSource, call, createSource, event, postEvents, SHOP, unique } from './fixtures/api';
import { readSession } from './fixtures/sessions';

/**
 * A public key proves at most its own customer, never where its message lands: it links only the
 * session it arrived in, and never one that a secret key's message created or wrote to
 * (docs/security.md, "What a public key may link").
 */

const basic = (key: string) => `Basic ${btoa(`${key}:`)}`;
const minutesAgo = (m: number) => new Date(Date.now() - m * 60_000).toISOString();
const daysAgo = (d: number) => minutesAgo(d * 1440);

interface Results {
  results: { status: string; session_id?: string | null; error?: { code: string } }[];
}

const website = () => createSource({ kind: 'website', allowed_origins: [SHOP] });
const segment = async (key: string, batch: unknown[]) =>
  (await (
    await call('/v1/batch', { method: 'POST', headers: { authorization: basic(key), origin: SHOP }, json: { batch, sentAt: new Date().toISOString() } })
  ).json()) as Results;
const posthog = async (key: string, batch: unknown[]) =>
  (await (await call('/batch', { method: 'POST', headers: { origin: SHOP }, json: { api_key: key, batch } })).json()) as Results;

/** posthog-node on the store's server: its distinct id is the store's own customer id, easy to guess. */
const serverCapture = (distinctId: string, event: string, at: string) => ({ event, distinct_id: distinctId, timestamp: at, uuid: crypto.randomUUID() });

/** The victim's two sessions a day apart, made by the store's server (secret key), and an order in the latest. */
async function victimSessions(shop: CreatedSource, victimId: string) {
  const sent = await posthog(shop.secret_key, [
    serverCapture(victimId, '$pageview', daysAgo(2)),
    serverCapture(victimId, '$pageview', minutesAgo(3)),
    { ...serverCapture(victimId, 'Order Completed', minutesAgo(2)), properties: { order_id: 'o-1', total: 80 } },
  ]);
  expect(sent.results.map((r) => r.status)).toEqual(['accepted', 'accepted', 'accepted']);
  const [earlier, , latest] = sent.results.map((r) => r.session_id!);
  expect(earlier).not.toBe(latest);
  return { earlier: earlier!, latest: latest! };
}

async function customerOf(shop: CreatedSource, sessionId: string) {
  return (await readSession(shop.id, sessionId, shop.secret_key)).body.session.customer_id;
}

async function ordersOf(shop: CreatedSource, customerId: string) {
  const res = await call(`/api/v1/web-events?customer_id=${customerId}`, { token: shop.secret_key });
  return ((await res.json()) as { events: { name: string }[] }).events.filter((e) => e.name === 'order_complete');
}

describe("a public key's proven identify links only its own visitor", () => {
  it("PostHog: a shopper's own valid hash with another visitor's id ($anon_distinct_id, $device_id, backdated) links none of the victim's sessions", async () => {
    const shop = await website();
    const victim = unique('cust-victim');
    const { earlier, latest } = await victimSessions(shop, victim);
    const attacker = unique('cust-attacker');
    const hash = await customerHash(shop.identity_secret, attacker);
    const identify = (properties: Record<string, unknown>, at = minutesAgo(1)) => ({
      event: '$identify',
      distinct_id: attacker,
      timestamp: at,
      uuid: crypto.randomUUID(),
      properties: { $customer_hash: hash, ...properties },
    });
    const sent = await posthog(shop.public_key, [
      identify({ $anon_distinct_id: victim }),
      identify({ $device_id: victim }),
      identify({ $device_id: victim }, new Date(Date.parse(daysAgo(2)) + 60_000).toISOString()),
    ]);
    expect(sent.results.map((r) => r.status)).toEqual(['accepted', 'accepted', 'accepted']);
    // They landed in the victim's sessions (a public key may send there), and linked neither.
    expect(new Set(sent.results.map((r) => r.session_id))).toEqual(new Set([latest, earlier]));
    expect(await customerOf(shop, latest)).toBeNull();
    expect(await customerOf(shop, earlier)).toBeNull();
    const live = (await readSession(shop.id, latest, shop.secret_key)).body.events.filter((e) => e.name === 'identify');
    expect(live.map((e) => [e.customer_id, e.claimed_customer_id, e.flags])).toEqual([
      [null, attacker, ['identity_not_linked']],
      [null, attacker, ['identity_not_linked']],
    ]);
    expect(await ordersOf(shop, attacker)).toEqual([]);
    // The victim's later server events stay theirs to link: the store's identify does.
    await posthog(shop.secret_key, [{ ...serverCapture(victim, '$identify', minutesAgo(0)), properties: { $anon_distinct_id: victim } }]);
    expect(await customerOf(shop, latest)).toBe(victim);
    expect(await customerOf(shop, earlier)).toBe(victim);
  });

  it("Segment: an identify with the shopper's own userId and hash and another visitor's anonymousId links none of that visitor's sessions", async () => {
    const shop = await website();
    const victimDevice = unique('anon-victim');
    const server = await segment(shop.secret_key, [
      { type: 'page', anonymousId: victimDevice, messageId: unique('m'), timestamp: minutesAgo(3) },
      { type: 'track', event: 'Order Completed', anonymousId: victimDevice, messageId: unique('m'), timestamp: minutesAgo(2), properties: { order_id: 'o' } },
    ]);
    const session = server.results[0]!.session_id!;
    const attacker = unique('cust-attacker');
    const forged = await segment(shop.public_key, [
      {
        type: 'identify',
        userId: attacker,
        anonymousId: victimDevice,
        messageId: unique('m'),
        timestamp: minutesAgo(1),
        context: { customer_hash: await customerHash(shop.identity_secret, attacker) },
      },
    ]);
    expect(forged.results[0]).toMatchObject({ status: 'accepted', session_id: session });
    expect(await customerOf(shop, session)).toBeNull();
    expect(await ordersOf(shop, attacker)).toEqual([]);
  });

  it("the tracker: a proven login in a session a partner created over REST links nothing; in the browser's own session it links", async () => {
    const shop = await website();
    const guessable = unique('order-1001');
    await postEvents(shop.secret_key, [event(guessable, 'order_complete', -2, { context: { type: 'order', id: 'o-9', total: 12 } })]);
    const attacker = unique('cust-attacker');
    const login = (sessionId: string) => ({
      i: crypto.randomUUID(),
      s: sessionId,
      n: 'user_login',
      t: Date.now(),
      q: 1,
      u: `${SHOP}/`,
      cu: attacker,
    });
    const hash = await customerHash(shop.identity_secret, attacker);
    expect((await beacon(shop.public_key, [{ ...login(guessable), ch: hash }])).status).toBe(204);
    const taken = (await readSession(shop.id, guessable, shop.secret_key)).body;
    expect(taken.session).toMatchObject({ customer_id: null, claimed_customer_id: attacker });
    expect(taken.events.map((e) => [e.name, e.customer_id, e.flags])).toEqual([
      ['order_complete', null, []],
      ['user_login', null, ['identity_not_linked']],
    ]);
    // The browser's own session: its login links it, as always.
    const own = unique('s');
    expect((await beacon(shop.public_key, [{ ...login(own), ch: hash }])).status).toBe(204);
    expect(await customerOf(shop, own)).toBe(attacker);
  });

  it("a browser's own identify still de-anonymizes the session it belongs to; the store's server then follows it there", async () => {
    const shop = await website();
    const device = crypto.randomUUID();
    const customer = unique('cust');
    const hash = await customerHash(shop.identity_secret, customer);
    const browser = await posthog(shop.public_key, [
      { event: '$pageview', distinct_id: device, timestamp: minutesAgo(2), uuid: crypto.randomUUID(), properties: { $device_id: device } },
      {
        event: '$identify',
        distinct_id: customer,
        timestamp: minutesAgo(1),
        uuid: crypto.randomUUID(),
        properties: { $device_id: device, $anon_distinct_id: device, $customer_hash: hash },
      },
    ]);
    const session = browser.results[0]!.session_id!;
    expect(browser.results[1]!.session_id).toBe(session);
    expect(await customerOf(shop, session)).toBe(customer);
    const order = await posthog(shop.secret_key, [{ ...serverCapture(customer, 'Order Completed', minutesAgo(0)), properties: { order_id: 'o-2' } }]);
    expect(order.results[0]!.session_id).toBe(session);
  });
});

describe('forwarding never makes a cycle', () => {
  it('an alias A → B, then B → A (secret key): device A keeps its own sessions, and no two visitors follow each other', async () => {
    const shop = await createSource();
    const [a, b] = [unique('dev-a'), unique('dev-b')];
    const track = (anonymousId: string, at: string) => ({ type: 'track', event: 'x', anonymousId, messageId: unique('m'), timestamp: at });
    const first = await segment(shop.secret_key, [track(a, minutesAgo(5)), track(b, minutesAgo(5))]);
    const [sessionA, sessionB] = first.results.map((r) => r.session_id!);
    await segment(shop.secret_key, [{ type: 'alias', previousId: a, userId: b, messageId: unique('m'), timestamp: minutesAgo(4) }]);
    await segment(shop.secret_key, [{ type: 'alias', previousId: b, userId: a, messageId: unique('m'), timestamp: minutesAgo(3) }]);
    const after = await segment(shop.secret_key, [track(a, minutesAgo(1))]);
    expect(after.results[0]!.session_id).toBe(sessionA);
    expect(sessionB).not.toBe(sessionA);
    const follows = async (visitor: string) =>
      runInDurableObject(
        env.VISITORS.getByName(`${shop.id}:a:${visitor}`),
        async (_o, state) => (await state.storage.get<{ visitor: string }>('follow'))?.visitor,
      );
    const [fa, fb] = [await follows(a), await follows(b)];
    expect(fa === `a:${b}` && fb === `a:${a}`).toBe(false);
  });
});

describe('the caps hold before any object is made', () => {
  it('a public-key batch of 500 distinct anonymous ids keeps 10 events and makes 10 visitor objects, not 500', async () => {
    const shop = await website();
    const ids = Array.from({ length: 500 }, (_, i) => `${unique('flood')}-${i}`);
    const sent = await segment(
      shop.public_key,
      ids.map((anonymousId) => ({ type: 'track', event: 'x', anonymousId, messageId: unique('m'), timestamp: minutesAgo(1) })),
    );
    const statuses = sent.results.map((r) => r.status);
    expect(statuses.filter((s) => s === 'accepted')).toHaveLength(10);
    expect(sent.results.filter((r) => r.error?.code === 'too_many_sessions')).toHaveLength(490);
    const made = await Promise.all(
      ids.map((id) => runInDurableObject(env.VISITORS.getByName(`${shop.id}:a:${id}`), async (_o, state) => (await state.storage.list()).size)),
    );
    expect(made.filter((n) => n > 0)).toHaveLength(10);
  });

  it('one visitor whose messages are days apart starts at most as many sessions as the cap allows', async () => {
    const shop = await website();
    const visitor = unique('spread');
    const sent = await segment(
      shop.public_key,
      Array.from({ length: 30 }, (_, i) => ({ type: 'track', event: 'x', anonymousId: visitor, messageId: unique('m'), timestamp: daysAgo(30 - i) })),
    );
    expect(sent.results.filter((r) => r.status === 'accepted')).toHaveLength(10);
    expect(new Set(sent.results.map((r) => r.session_id).filter(Boolean)).size).toBe(10);
    const spans = await runInDurableObject(
      env.VISITORS.getByName(`${shop.id}:a:${visitor}`),
      async (_o, state) => (await state.storage.get<unknown[]>('spans'))!,
    );
    expect(spans).toHaveLength(10);
  });
});
