import { describe, expect, it } from 'vitest';
import { fastEventInput } from '../src/events/fast-validate';
import { EventInput } from '../src/events/schema';
import { customerHash, TIMED_HASH_WINDOW, timedCustomerHash, timedHashExpiry, verifyCustomer } from '../src/sources/identity';
import { call, createSource, event, unique } from './fixtures/api';

const SECRET = 'idsec_test';
const NOW = Date.UTC(2030, 0, 1);
const nowS = NOW / 1000;

describe('the timed customer hash', () => {
  it('proves its customer from 5 minutes before its t to 24 hours after; the plain form stays valid for good', async () => {
    const at = async (t: number) => verifyCustomer(SECRET, 'c-1', await timedCustomerHash(SECRET, 'c-1', t), NOW);
    expect(await at(nowS)).toBe(true);
    expect(await at(nowS - TIMED_HASH_WINDOW.afterS)).toBe(true);
    expect(await at(nowS + TIMED_HASH_WINDOW.beforeS)).toBe(true);
    expect(await at(nowS - TIMED_HASH_WINDOW.afterS - 1)).toBe(false);
    expect(await at(nowS + TIMED_HASH_WINDOW.beforeS + 1)).toBe(false);
    expect(await verifyCustomer(SECRET, 'c-1', await customerHash(SECRET, 'c-1'), NOW + 10 * 365 * 86_400_000)).toBe(true);
  });

  it('signs its t with the customer: another customer, another t or another secret proves nothing', async () => {
    const hash = await timedCustomerHash(SECRET, 'c-1', nowS);
    expect(await verifyCustomer(SECRET, 'c-2', hash, NOW)).toBe(false);
    expect(await verifyCustomer(SECRET, 'c-1', hash.replace(`t=${nowS}`, `t=${nowS + 1}`), NOW)).toBe(false);
    expect(await verifyCustomer('idsec_other', 'c-1', hash, NOW)).toBe(false);
    // The timed form's h alone is not the plain hash of the customer.
    expect(await verifyCustomer(SECRET, 'c-1', hash.slice(hash.indexOf('h=') + 2), NOW)).toBe(false);
    // Nor is it the plain hash of the id it signs: another hash function.
    expect(hash.slice(hash.indexOf('h=') + 2)).not.toBe(await customerHash(SECRET, `${nowS}.c-1`));
  });

  it('says why a timed hash is out of its window', () => {
    const h = 'a'.repeat(96);
    expect(timedHashExpiry(`t=${nowS - 90_000},h=${h}`, NOW)).toMatch(/^expired: .*24 hours/);
    expect(timedHashExpiry(`t=${nowS + 600},h=${h}`, NOW)).toMatch(/^not valid yet: .*5 minutes ahead/);
    expect(timedHashExpiry(`t=${nowS},h=${h}`, NOW)).toBeNull();
    expect(timedHashExpiry(h, NOW)).toBeNull();
  });

  it('passes validation on the fast path and in zod alike; a malformed one is refused saying the timed form', async () => {
    const raw = (customer_hash: string) => event('s-1', 'user_login', 0, { customer_id: 'c-1', customer_hash });
    const timed = `t=${nowS},h=${'0'.repeat(96)}`;
    const good = raw(timed);
    expect(fastEventInput(good)?.customer_hash).toBe(timed);
    expect(EventInput.safeParse(good).success).toBe(true);
    for (const bad of [`t=${nowS},h=${'A'.repeat(96)}`, `t=${nowS}`, `t=x,h=${'0'.repeat(96)}`]) {
      expect(fastEventInput(raw(bad))).toBeUndefined();
      const parsed = EventInput.safeParse(raw(bad));
      expect(parsed.error?.issues[0]?.message).toMatch(/^must be t=<unix seconds>,h=<96 lowercase hex characters>/);
    }

    const app = await createSource({ kind: 'mobile_app' });
    const res = await call('/v1/sdk/events', {
      method: 'POST',
      headers: { 'x-source-key': app.public_key },
      json: { events: [event(unique('s'), 'user_login', 0, { customer_id: 'c-1', customer_hash: 't=1,h=00' })] },
    });
    const result = ((await res.json()) as { results: { status: string; error?: { code: string; message: string } }[] }).results[0];
    expect(result).toMatchObject({
      status: 'rejected',
      error: { code: 'invalid_event', message: expect.stringMatching(/customer_hash: must be t=<unix seconds>/) },
    });
  });
});
