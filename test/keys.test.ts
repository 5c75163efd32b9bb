import { env } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import { customerHash } from '../src/sources/identity';
import { newPublicKey } from '../src/sources/keys';
import { sourceByPublicKey, sourceBySecretKey } from '../src/sources/lookup';
import { Lru } from '../src/sources/lru';
import { ADMIN_TOKEN, call, createSource, event, unique } from './fixtures/api';

const rotate = async (id: string, json: unknown) => {
  const res = await call(`/api/v1/admin/sources/${id}/rotate-keys`, { method: 'POST', token: ADMIN_TOKEN, json });
  expect(res.status).toBe(200);
  return (await res.json()) as { public_key: string; secret_key?: string; identity_secret?: string; previous_keys_expire_at: string | null };
};
const restStatus = async (secret: string) =>
  (await call('/api/v1/web-events', { method: 'POST', token: secret, json: { events: [event(unique('s'), 'page_view', 0)] } })).status;
const sdkStatus = async (key: string) =>
  (await call('/v1/sdk/events', { method: 'POST', headers: { 'x-source-key': key }, json: { events: [event(unique('s'), 'app_open', 0)] } })).status;

/** The real local D1, with its statements counted: which lookups reach the database. */
function countingDb() {
  const counter = { statements: 0 };
  const db = new Proxy(env.DB, {
    get(target, prop) {
      if (prop === 'prepare')
        return (sql: string) => {
          counter.statements++;
          return target.prepare(sql);
        };
      const value = Reflect.get(target, prop) as unknown;
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
  return { db, counter };
}

describe('keys', () => {
  it('a rotation keeps the replaced keys working for the grace period (7 days by default), so installed apps lose nothing', async () => {
    const app = await createSource({ kind: 'mobile_app' });
    const next = await rotate(app.id, {});
    expect(Date.parse(next.previous_keys_expire_at!) - Date.now()).toBeGreaterThan(6.9 * 86_400_000);
    expect([await sdkStatus(app.public_key), await sdkStatus(next.public_key)]).toEqual([200, 200]);
    expect([await restStatus(app.secret_key), await restStatus(next.secret_key!)]).toEqual([200, 200]);
  });

  it('the grace ends when it says, in this isolate too (the key cache keeps a replaced key no longer than its grace)', async () => {
    const source = await createSource();
    expect(await restStatus(source.secret_key)).toBe(200); // cached now
    const next = await rotate(source.id, { keys: ['secret'], grace_s: 1 });
    expect(await restStatus(source.secret_key)).toBe(200);
    await new Promise((r) => setTimeout(r, 1200));
    expect([await restStatus(source.secret_key), await restStatus(next.secret_key!)]).toEqual([401, 200]);
  });

  it('rotating the identity secret shows the new one once; hashes made with the old one stop proving', async () => {
    const shop = await createSource({ kind: 'mobile_app' });
    const next = await rotate(shop.id, { keys: ['identity'] });
    expect(next.identity_secret).toMatch(/^idsec_/);
    expect(next.identity_secret).not.toBe(shop.identity_secret);
    expect(next.secret_key).toBeUndefined();
    const send = async (secret: string) => {
      const res = await call('/v1/sdk/events', {
        method: 'POST',
        headers: { 'x-source-key': shop.public_key },
        json: { events: [event(unique('s'), 'user_login', 0, { customer_id: 'c', customer_hash: await customerHash(secret, 'c') })] },
      });
      return ((await res.json()) as { results: { status: string }[] }).results[0]!.status;
    };
    expect([await send(shop.identity_secret), await send(next.identity_secret!)]).toEqual(['rejected', 'accepted']);
  });

  it('a string that is not a key never reaches D1; a flood of unknown keys neither evicts a known one nor grows the isolate', async () => {
    const source = await createSource({ kind: 'mobile_app' });
    const { db, counter } = countingDb();
    for (const junk of ['', 'pk_', 'pk_short', `pk_${'a'.repeat(25)}`, "pk_' OR 1=1 --", `sk_${'x'.repeat(200)}`]) {
      expect(await sourceByPublicKey(db, junk)).toBeNull();
      expect(await sourceBySecretKey(db, junk)).toBeNull();
    }
    expect(counter.statements).toBe(0);

    expect((await sourceByPublicKey(db, source.public_key))?.id).toBe(source.id);
    expect(counter.statements).toBe(1);
    for (let i = 0; i < 1_500; i++) await sourceByPublicKey(db, newPublicKey());
    const afterFlood = counter.statements;
    expect((await sourceByPublicKey(db, source.public_key))?.id).toBe(source.id);
    expect(counter.statements).toBe(afterFlood); // still cached: misses live apart
  });

  it('the caches are bounded LRUs: the least recently used entry goes first, an expired one is gone', () => {
    const lru = new Lru<number>(3);
    for (const k of ['a', 'b', 'c']) lru.set(k, 1, 1_000);
    expect(lru.get('a', 0)).toBe(1); // a is now the most recent
    lru.set('d', 1, 1_000);
    expect(['a', 'b', 'c', 'd'].map((k) => lru.get(k, 0))).toEqual([1, undefined, 1, 1]);
    expect(lru.get('a', 1_000)).toBeUndefined();
  });

  it('a source id starts with a letter or digit', async () => {
    for (const id of ['..', '.hidden', '-x', '_x']) {
      const res = await call('/api/v1/admin/sources', { method: 'POST', token: ADMIN_TOKEN, json: { id, name: 'x', kind: 'server' } });
      expect(res.status, id).toBe(400);
      expect(((await res.json()) as { error: { details: { path: string }[] } }).error.details[0]!.path).toBe('id');
    }
    expect((await createSource({ id: `a.${unique('b')}` })).id).toMatch(/^a\./);
  });
});
