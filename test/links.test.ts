import { env } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import { base64url, fromBase64url } from '../src/encoding';
import { signLink } from '../src/links/token';
import { call, createSource, event, postEvents, unique } from './fixtures/api';
import { readSession } from './fixtures/sessions';

const SHOP = 'https://shop.example';
const shop = () => createSource({ kind: 'website', allowed_origins: [SHOP] });

async function makeLink(secretKey: string, body: Record<string, unknown>) {
  const res = await call('/api/v1/links', { method: 'POST', token: secretKey, json: { campaign_id: 'cmp-1', target_url: `${SHOP}/cart?from=mail`, ...body } });
  return { status: res.status, body: (await res.json()) as { url: string; token: string; expires_at: string; error?: { code: string } } };
}

const follow = (url: string) => call(new URL(url).pathname, { redirect: 'manual' });

describe('campaign links', () => {
  it('a click de-anonymizes the session whose event triggered the campaign, records campaign_click, and redirects with the token', async () => {
    const source = await shop();
    const sessionId = unique('s');
    await postEvents(source.secret_key, [
      event(sessionId, 'page_view', -3),
      event(sessionId, 'container_add', -2, { context: { type: 'product', id: 'p1', container: 'cart' } }),
    ]);
    const link = await makeLink(source.secret_key, { session_id: sessionId, customer_id: 'cust-77' });
    expect(link.status).toBe(201);
    expect(link.body.url).toMatch(/\/l\/[\w-]+$/);

    const res = await follow(link.body.url);
    expect(res.status).toBe(302);
    const location = new URL(res.headers.get('location')!);
    expect(location.origin + location.pathname).toBe(`${SHOP}/cart`);
    expect(location.searchParams.get('from')).toBe('mail');
    expect(location.searchParams.get('wev_link')).toBe(link.body.token);

    const { body } = await readSession(source.id, sessionId, source.secret_key);
    expect(body.session).toMatchObject({ customer_id: 'cust-77', deanonymized_by: 'campaign_link' });
    expect(body.events.map((e) => [e.name, e.customer_id])).toEqual([
      ['page_view', 'cust-77'],
      ['container_add', 'cust-77'],
      ['campaign_click', 'cust-77'],
    ]);
  });

  it('a token is opaque: neither the customer, the session nor the target can be read from it', async () => {
    const source = await shop();
    const sessionId = unique('s');
    const { body: link } = await makeLink(source.secret_key, { session_id: sessionId, customer_id: 'cust-opaque-77' });
    const decoded = new TextDecoder().decode(fromBase64url(link.token));
    for (const clear of ['cust-opaque-77', sessionId, source.id, 'cmp-1', 'shop.example']) {
      expect(link.token).not.toContain(clear);
      expect(decoded).not.toContain(clear);
    }
  });

  it('a tampered, expired or unsigned token changes nothing and lands on a neutral page', async () => {
    const source = await shop();
    const sessionId = unique('s');
    await postEvents(source.secret_key, [event(sessionId, 'page_view', -1)]);
    const { body: link } = await makeLink(source.secret_key, { session_id: sessionId, customer_id: 'cust-1' });
    // One bit flipped in the ciphertext, and the tag cut short.
    const bytes = fromBase64url(link.token);
    bytes[20] = bytes[20]! ^ 1;
    const flipped = base64url(bytes);
    const forged = await signLink({ src: source.id, sid: sessionId, cus: 'cust-1', cmp: 'c', url: 'https://evil.example/', exp: 2e9 }, 'another-secret');
    const expired = await signLink(
      { src: source.id, sid: sessionId, cus: 'cust-1', cmp: 'c', url: `${SHOP}/`, exp: Math.floor(Date.now() / 1000) - 1 },
      env.LINK_SIGNING_KEY,
    );
    for (const token of [flipped, link.token.slice(0, -4), forged, expired, 'garbage']) {
      const res = await call(`/l/${token}`, { redirect: 'manual' });
      expect(res.status).toBe(404);
      expect(res.headers.get('location')).toBeNull();
      expect(await res.text()).toContain('no longer valid');
    }
    const { body } = await readSession(source.id, sessionId, source.secret_key);
    expect(body.session.customer_id).toBeNull();
    expect(body.events.map((e) => e.name)).toEqual(['page_view']);
  });

  it('refuses to make a link to an origin outside the source (no open redirect)', async () => {
    const source = await shop();
    const res = await makeLink(source.secret_key, { customer_id: 'c', target_url: 'https://evil.example/phish' });
    expect(res.status).toBe(400);
    expect(res.body.error!.code).toBe('target_not_allowed');
  });

  it("the landing page's next event links the visitor's current session; another source's token does not", async () => {
    const source = await shop();
    const other = await createSource({ kind: 'website', allowed_origins: [SHOP] });
    const { body: link } = await makeLink(source.secret_key, { session_id: unique('mailed'), customer_id: 'cust-3' });
    const { body: foreign } = await makeLink(other.secret_key, { customer_id: 'cust-x' });

    // What the tracker sends on the landing page: the page URL, with the token in it.
    const visitor = unique('s');
    const landing = `${SHOP}/cart?from=mail&wev_link=${link.token}`;
    await postEvents(source.secret_key, [event(visitor, 'page_view', 0, { page: { url: landing } })]);
    const { body } = await readSession(source.id, visitor, source.secret_key);
    expect(body.session).toMatchObject({ customer_id: 'cust-3', deanonymized_by: 'campaign_link' });

    const stranger = unique('s');
    await postEvents(source.secret_key, [event(stranger, 'page_view', 0, { page: { url: `${SHOP}/?wev_link=${foreign.token}` } })]);
    expect((await readSession(source.id, stranger, source.secret_key)).body.session.customer_id).toBeNull();
  });

  it('a mailing link (customer, no session) records the click and its landing identifies the visitor', async () => {
    const source = await shop();
    const { body: link } = await makeLink(source.secret_key, { customer_id: 'cust-mail' });
    const res = await follow(link.url);
    expect(res.status).toBe(302);
    const landing = res.headers.get('location')!;
    const visitor = unique('s');
    await postEvents(source.secret_key, [event(visitor, 'page_view', 0, { page: { url: landing } })]);
    const { body } = await readSession(source.id, visitor, source.secret_key);
    expect(body.session).toMatchObject({ customer_id: 'cust-mail', deanonymized_by: 'campaign_link' });
    // The click itself lives in a session of its own, one per link.
    const click = await readSession(source.id, `click.${link.token.slice(-24)}`, source.secret_key);
    expect(click.body.events.map((e) => [e.name, e.customer_id])).toEqual([['campaign_click', 'cust-mail']]);
  });

  it('a click is recorded once per token; a HEAD or a mail scanner is redirected without recording or linking anything', async () => {
    const source = await shop();
    const scanned = unique('s');
    await postEvents(source.secret_key, [event(scanned, 'page_view', -1)]);
    const { body: scannedLink } = await makeLink(source.secret_key, { session_id: scanned, customer_id: 'cust-s' });
    const path = new URL(scannedLink.url).pathname;
    for (const res of [
      await call(path, { method: 'HEAD', redirect: 'manual' }),
      await call(path, { redirect: 'manual', headers: { 'user-agent': 'Googlebot/2.1 (+http://www.google.com/bot.html)' } }),
    ]) {
      expect(res.status).toBe(302);
    }
    expect((await readSession(source.id, scanned, source.secret_key)).body).toMatchObject({ session: { customer_id: null, event_count: 1 } });

    const sessionId = unique('s');
    await postEvents(source.secret_key, [event(sessionId, 'page_view', -1)]);
    const { body: link } = await makeLink(source.secret_key, { session_id: sessionId, customer_id: 'cust-9' });
    for (let i = 0; i < 3; i++) expect((await follow(link.url)).status).toBe(302);
    const { body } = await readSession(source.id, sessionId, source.secret_key);
    expect(body.events.map((e) => e.name)).toEqual(['page_view', 'campaign_click']);
    expect(body.session.customer_id).toBe('cust-9');
  });

  it('a token links the first session that lands with it and no other; stored URLs keep no token, only allowed parameters and utm_*', async () => {
    const source = await createSource({ kind: 'website', allowed_origins: [SHOP], allowed_query_params: ['from'] });
    const { body: link } = await makeLink(source.secret_key, { session_id: unique('mailed'), customer_id: 'cust-4' });
    const landing = `${SHOP}/cart?from=mail&utm_source=news&reset_token=secret&wev_link=${link.token}#access_token=abc`;
    const visitor = unique('s');
    await postEvents(source.secret_key, [event(visitor, 'page_view', 0, { page: { url: landing, referrer: `${SHOP}/mail?wev_link=${link.token}` } })]);
    await postEvents(source.secret_key, [event(visitor, 'page_view', 0.1, { page: { url: landing } })]); // a reload: the same session, still linked

    const first = (await readSession(source.id, visitor, source.secret_key)).body;
    expect(first.session).toMatchObject({ customer_id: 'cust-4', deanonymized_by: 'campaign_link', landing_url: `${SHOP}/cart?from=mail&utm_source=news` });
    expect(first.events.map((e) => [e.page?.url, e.page?.referrer])).toEqual([
      [`${SHOP}/cart?from=mail&utm_source=news`, `${SHOP}/mail`],
      [`${SHOP}/cart?from=mail&utm_source=news`, undefined],
    ]);
    expect(JSON.stringify(first)).not.toContain(link.token);

    // The URL, passed on to a stranger, links nobody.
    const stranger = unique('s');
    await postEvents(source.secret_key, [event(stranger, 'page_view', 0, { page: { url: landing } })]);
    expect((await readSession(source.id, stranger, source.secret_key)).body.session.customer_id).toBeNull();
  });
});
