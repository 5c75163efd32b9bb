import { describe, expect, it } from 'vitest';
import { customerHash, TIMED_HASH_WINDOW, timedCustomerHash } from '../src/sources/identity';
import { ADMIN_TOKEN, type CreatedSource, call, createSource, event, postEvents, SHOP, beacon as sendBeacon, unique } from './fixtures/api';
import { d1Events, d1Session, readSession, runAlarm } from './fixtures/sessions';
import { createTrigger, received, waitForWebhooks } from './fixtures/webhooks';

const login = (sessionId: string, customer: string, ch?: string) => ({
  i: crypto.randomUUID(),
  s: sessionId,
  n: 'user_login',
  t: Date.now(),
  q: 2,
  u: `${SHOP}/`,
  cu: customer,
  ...(ch ? { ch } : {}),
});
const view = (sessionId: string) => ({ i: crypto.randomUUID(), s: sessionId, n: 'page_view', t: Date.now() - 1000, q: 1, u: `${SHOP}/` });

async function beaconOf(source: CreatedSource, e: unknown[]) {
  const res = await sendBeacon(source.public_key, e);
  return {
    status: res.status,
    body: res.status === 204 ? null : ((await res.json()) as { error: { code: string; details: { path: string; message: string }[] } }),
  };
}

const website = (extra: Record<string, unknown> = {}) => createSource({ kind: 'website', allowed_origins: [SHOP], ...extra });

describe('a browser cannot claim to be a customer', () => {
  it('a new website source requires the customer_hash: a forged login is refused alone, the session stays anonymous', async () => {
    const shop = await website();
    const sessionId = unique('s');
    const forged = await beaconOf(shop, [view(sessionId), login(sessionId, 'customer-42')]);
    expect(forged.status).toBe(400);
    expect(forged.body!.error.details).toEqual([{ path: 'e.1.customer_hash', message: expect.stringMatching(/required with customer_id/) }]);
    const wrong = await beaconOf(shop, [login(sessionId, 'customer-42', await customerHash(shop.identity_secret, 'customer-43'))]);
    expect(wrong.body!.error.details[0]!.message).toMatch(/does not prove customer_id/);
    const live = (await readSession(shop.id, sessionId, shop.secret_key)).body;
    expect(live.session).toMatchObject({ customer_id: null, claimed_customer_id: null });
    expect(live.events.map((e) => e.name)).toEqual(['page_view']);
  });

  it('a source that does not require it keeps an unproven claim aside: stored, flagged, attributed to nobody, no webhook, no segment', async () => {
    const shop = await website({ require_verified_identity: false });
    const hook = `/hook/ok/${unique('r')}`;
    await createTrigger(shop.id, { kind: 'event', event: 'user_login' }, hook);

    const claimed = unique('s');
    expect((await beaconOf(shop, [view(claimed), login(claimed, 'customer-42')])).status).toBe(204);
    const proven = unique('s');
    expect((await beaconOf(shop, [login(proven, 'customer-7', await customerHash(shop.identity_secret, 'customer-7'))])).status).toBe(204);

    const live = (await readSession(shop.id, claimed, shop.secret_key)).body;
    expect(live.session).toMatchObject({ customer_id: null, claimed_customer_id: 'customer-42', deanonymized_at: null });
    expect(live.events.map((e) => [e.name, e.customer_id, e.claimed_customer_id, e.flags])).toEqual([
      ['page_view', null, null, []],
      ['user_login', null, 'customer-42', ['unverified_identity']],
    ]);
    for (const id of [claimed, proven]) await runAlarm(shop.id, id);
    expect(await d1Events(shop.id, claimed)).toEqual([]); // anonymous: its events are not in D1
    expect(await d1Session(shop.id, claimed)).toMatchObject({ customer_id: null, claimed_customer_id: 'customer-42' });

    // The proven login's webhook arrives; the claimed one's never does.
    await waitForWebhooks(hook, 1);
    await new Promise((r) => setTimeout(r, 500));
    const got = await received(hook);
    expect(got.map((r) => (JSON.parse(r.body) as { session: { customer_id: string } }).session.customer_id)).toEqual(['customer-7']);

    const preview = await call('/api/v1/segments/preview', { method: 'POST', token: shop.secret_key, json: { definition: { event: 'user_login' } } });
    expect(((await preview.json()) as { customer_ids: string[] }).customer_ids).toEqual(['customer-7']);
  });

  it('the SDK proves its customer the same way; the partner API, holding the secret key, needs no proof', async () => {
    const app = await createSource({ kind: 'mobile_app' });
    const sessionId = unique('s');
    const unproven = await call('/v1/sdk/events', {
      method: 'POST',
      headers: { 'x-source-key': app.public_key },
      json: { events: [event(sessionId, 'user_login', 0, { customer_id: 'c-1' })] },
    });
    expect(((await unproven.json()) as { results: { status: string; error?: { code: string } }[] }).results[0]).toMatchObject({
      status: 'rejected',
      error: { code: 'unverified_identity' },
    });
    const proven = await call('/v1/sdk/events', {
      method: 'POST',
      headers: { 'x-source-key': app.public_key },
      json: { events: [event(sessionId, 'user_login', 0, { customer_id: 'c-1', customer_hash: await customerHash(app.identity_secret, 'c-1') })] },
    });
    expect(((await proven.json()) as { results: { status: string }[] }).results[0]!.status).toBe('accepted');
    expect((await readSession(app.id, sessionId, app.secret_key)).body.session.customer_id).toBe('c-1');

    const server = await createSource();
    const partner = unique('s');
    await postEvents(server.secret_key, [event(partner, 'user_login', 0, { customer_id: 'c-2' })]);
    expect((await readSession(server.id, partner, server.secret_key)).body.session.customer_id).toBe('c-2');
  });

  it('sources say whether they require it: new website and app sources do, a server source and a PATCH can say otherwise', async () => {
    const made = await Promise.all([website(), createSource({ kind: 'mobile_app' }), createSource()]);
    const shown = await Promise.all(
      made.map(async (s) => (await (await call(`/api/v1/admin/sources/${s.id}`, { token: ADMIN_TOKEN })).json()) as Record<string, unknown>),
    );
    expect(shown.map((s) => s.require_verified_identity)).toEqual([true, true, false]);
    expect(shown.every((s) => s.identity_secret === undefined)).toBe(true); // shown once, on create
    expect(made.every((s) => /^idsec_[\w-]{43}$/.test(s.identity_secret))).toBe(true);
    const patched = await call(`/api/v1/admin/sources/${made[0]!.id}`, { method: 'PATCH', token: ADMIN_TOKEN, json: { require_verified_identity: false } });
    expect(((await patched.json()) as { require_verified_identity: boolean }).require_verified_identity).toBe(false);
  });
});

describe('a timed customer hash proves its customer for a while', () => {
  const nowS = () => Math.floor(Date.now() / 1000);
  type SdkResults = { results: { status: string; error?: { code: string; details: { path: string; message: string }[] } }[] };
  const sdkLogin = async (key: string, sessionId: string, customer: string, hash: string) => {
    const res = await call('/v1/sdk/events', {
      method: 'POST',
      headers: { 'x-source-key': key },
      json: { events: [event(sessionId, 'user_login', 0, { customer_id: customer, customer_hash: hash })] },
    });
    return ((await res.json()) as SdkResults).results[0]!;
  };

  it('on the tracker: a fresh one de-anonymizes the session; an expired or a future one is refused', async () => {
    const shop = await website();
    const sessionId = unique('s');
    const fresh = await timedCustomerHash(shop.identity_secret, 'customer-42', nowS());
    expect((await beaconOf(shop, [view(sessionId), login(sessionId, 'customer-42', fresh)])).status).toBe(204);
    expect((await readSession(shop.id, sessionId, shop.secret_key)).body.session.customer_id).toBe('customer-42');

    const expired = await timedCustomerHash(shop.identity_secret, 'customer-42', nowS() - TIMED_HASH_WINDOW.afterS - 60);
    const future = await timedCustomerHash(shop.identity_secret, 'customer-42', nowS() + TIMED_HASH_WINDOW.beforeS + 60);
    for (const hash of [expired, future]) {
      const other = unique('s');
      const refused = await beaconOf(shop, [login(other, 'customer-42', hash)]);
      expect(refused.status).toBe(400);
      // The tracker's 400 names the field; its per-event code (unverified_identity) is the SDK's to show.
      expect(refused.body!.error.details).toEqual([{ path: 'e.0.customer_hash', message: expect.any(String) }]);
      expect((await readSession(shop.id, other, shop.secret_key)).status).toBe(404); // nothing stored
    }
  });

  it('on the SDK: a fresh one is accepted, an expired or a future one is rejected as unverified_identity', async () => {
    const app = await createSource({ kind: 'mobile_app' });
    const sessionId = unique('s');
    const fresh = await timedCustomerHash(app.identity_secret, 'c-1', nowS());
    expect((await sdkLogin(app.public_key, sessionId, 'c-1', fresh)).status).toBe('accepted');
    expect((await readSession(app.id, sessionId, app.secret_key)).body.session.customer_id).toBe('c-1');

    for (const t of [nowS() - TIMED_HASH_WINDOW.afterS - 60, nowS() + TIMED_HASH_WINDOW.beforeS + 60]) {
      const result = await sdkLogin(app.public_key, unique('s'), 'c-1', await timedCustomerHash(app.identity_secret, 'c-1', t));
      expect(result).toMatchObject({ status: 'rejected', error: { code: 'unverified_identity', details: [{ path: 'customer_hash' }] } });
    }
  });
});
