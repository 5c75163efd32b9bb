import { describe, expect, it } from 'vitest';
import { newIdentitySecret, newPublicKey, newSecretKey } from '../src/sources/keys';
import { call, createSource, event, SHOP, unique } from './fixtures/api';

/** An address of TEST-NET-1 no other test file uses, one per test: the per-client counters start empty. */
let host = 0;
const clientIp = () => `192.0.2.${(Date.now() + host++) % 250}`;
const basic = (key: string) => `Basic ${btoa(`${key}:`)}`;
const errorCode = async (res: Response) => ((await res.json()) as { error: { code: string } }).error.code;

describe('a secret in a URL', () => {
  it('is refused with 400 secret_in_url before any route, in a path or a query, encoded or not, and never echoed', async () => {
    const source = await createSource({ kind: 'website', allowed_origins: [SHOP] });
    const urls = [
      `/i?e=pv&aid=${source.secret_key}`,
      `/v1/projects/${source.secret_key}/settings`,
      `/api/v1/web-events?key=${source.secret_key}`,
      `/api/v1/sessions/${source.id}?proof=${source.identity_secret}`,
      `/i?aid=${encodeURIComponent(source.secret_key).replace('_', '%5F')}`,
      `/nowhere/${newIdentitySecret()}`,
    ];
    for (const url of urls) {
      const res = await call(url);
      const text = await res.text();
      expect([url, res.status]).toEqual([url, 400]);
      expect(JSON.parse(text).error.code).toBe('secret_in_url');
      expect(text).not.toContain(source.secret_key);
      expect(text).not.toContain(source.identity_secret);
    }
  });

  it('leaves public keys and strings that only look alike', async () => {
    const source = await createSource({ kind: 'website', allowed_origins: [SHOP] });
    expect((await call(`/v1/projects/${source.public_key}/settings`)).status).toBe(200);
    expect((await call(`/v1/projects/sk_${'a'.repeat(20)}/settings`)).status).toBe(404);
    expect((await call(`/v1/projects/task_${newSecretKey().slice(3)}/settings`)).status).toBe(404);
  });
});

describe('failed keys per client address', () => {
  /** Sends made-up keys from one address until it is refused (the test limit is 20 per 10 s, windows on the wall clock). */
  async function flood(send: (ip: string) => Promise<Response>, ip: string) {
    const statuses: number[] = [];
    for (let i = 0; i < 45 && statuses.at(-1) !== 429; i++) {
      const res = await send(ip);
      statuses.push(res.status);
      if (res.status === 429) return { statuses, refused: res };
    }
    return { statuses, refused: null };
  }

  it('answer 429 with Retry-After once over the limit on the REST API, then before the lookup, whatever key follows', async () => {
    const source = await createSource();
    const post = (key: string, ip: string) =>
      call('/api/v1/web-events', { method: 'POST', token: key, headers: { 'cf-connecting-ip': ip }, json: { events: [event(unique('s'), 'page_view', 0)] } });
    const ip = clientIp();
    const { statuses, refused } = await flood((at) => post(newSecretKey(), at), ip);
    expect(refused).not.toBeNull();
    expect(statuses.filter((s) => s === 401).length).toBeGreaterThanOrEqual(20);
    expect(Number(refused!.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(await errorCode(refused!)).toBe('rate_limited');
    // Refused before the lookup: a real key from that address waits too, from another it is taken.
    expect((await post(source.secret_key, ip)).status).toBe(429);
    expect((await post(source.secret_key, clientIp())).status).toBe(200);
  });

  it('answer 429 on the wire routes too, for made-up secret and public keys alike', async () => {
    const segment = (ip: string) =>
      call('/v1/batch', {
        method: 'POST',
        headers: { authorization: basic(newSecretKey()), 'cf-connecting-ip': ip },
        json: { batch: [{ type: 'track', event: 'X', anonymousId: 'a' }] },
      });
    const posthog = (ip: string) =>
      call('/batch', { method: 'POST', headers: { 'cf-connecting-ip': ip }, json: { api_key: newPublicKey(), event: 'x', distinct_id: 'd' } });
    for (const send of [segment, posthog]) {
      const { statuses, refused } = await flood(send, clientIp());
      expect(statuses.filter((s) => s === 401).length).toBeGreaterThanOrEqual(20);
      expect(refused?.headers.get('retry-after')).toBeTruthy();
    }
  });
});

describe('CORS on the wire routes', () => {
  const track = (key: string, origin?: string) =>
    call('/v1/t', {
      method: 'POST',
      headers: { 'content-type': 'text/plain', ...(origin ? { origin } : {}) },
      body: JSON.stringify({ writeKey: key, event: 'Clicked', anonymousId: unique('a'), messageId: unique('m'), timestamp: new Date().toISOString() }),
    });

  it("grants a website key's allowed origin alone, with credentials", async () => {
    const site = await createSource({ kind: 'website', allowed_origins: [SHOP] });
    const ok = await track(site.public_key, SHOP);
    expect(ok.status).toBe(200);
    expect(ok.headers.get('access-control-allow-origin')).toBe(SHOP);
    expect(ok.headers.get('access-control-allow-credentials')).toBe('true');
    const foreign = await track(site.public_key, 'https://evil.example');
    expect(foreign.status).toBe(403);
    expect(foreign.headers.get('access-control-allow-credentials')).toBeNull();
  });

  it("refuses a mobile app's key from a page (an app sends no Origin), and answers a server's key without CORS", async () => {
    const app = await createSource({ kind: 'mobile_app', require_verified_identity: false });
    const fromPage = await track(app.public_key, 'https://any.example');
    expect(fromPage.status).toBe(403);
    expect(await errorCode(fromPage)).toBe('origin_not_allowed');
    expect(fromPage.headers.get('access-control-allow-credentials')).toBeNull();
    const posthog = await call('/batch', {
      method: 'POST',
      headers: { origin: 'https://any.example' },
      json: { api_key: app.public_key, event: 'x', distinct_id: 'd' },
    });
    expect(posthog.status).toBe(403);
    const fromApp = await track(app.public_key);
    expect(fromApp.status).toBe(200);
    expect(fromApp.headers.get('access-control-allow-origin')).toBeNull();

    const server = await createSource();
    const withSecret = await track(server.secret_key, 'https://any.example');
    expect(withSecret.status).toBe(200);
    expect(withSecret.headers.get('access-control-allow-origin')).toBeNull();
  });

  it('answers a preflight with a fixed list of request headers, not the ones asked for', async () => {
    for (const path of ['/v1/batch', '/batch', '/com.snowplowanalytics.snowplow/tp2']) {
      const res = await call(path, {
        method: 'OPTIONS',
        headers: { origin: SHOP, 'access-control-request-method': 'POST', 'access-control-request-headers': 'x-anything, authorization' },
      });
      expect(res.status).toBe(204);
      expect(res.headers.get('access-control-allow-headers')).toBe('authorization, content-type, x-retry-count');
    }
  });
});

describe('the favicon', () => {
  it('is a small icon, cached, so a console load logs no error', async () => {
    const res = await call('/favicon.ico');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('image/x-icon');
    expect(res.headers.get('cache-control')).toMatch(/max-age=\d{5,}/);
    const bytes = new Uint8Array(await res.arrayBuffer());
    // An ICO header (reserved 0, type 1) holding one PNG image.
    expect([...bytes.slice(0, 4)]).toEqual([0, 0, 1, 0]);
    expect(new TextDecoder().decode(bytes.slice(23, 26))).toBe('PNG');
  });
});
