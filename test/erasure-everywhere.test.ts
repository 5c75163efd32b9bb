import { createExecutionContext, createMessageBatch, getQueueResult, runInDurableObject } from 'cloudflare:test';
import { env } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import worker from '../src/index';
import { customerHash } from '../src/sources/identity';
import { shards } from '../src/storage/shards';
import type { TriggerMessage } from '../src/triggers/session-triggers';
import { ADMIN_TOKEN, beacon, call, createSource, event, postEvents, SHOP, unique } from './fixtures/api';
import { eventually } from './fixtures/sessions';
import { createTrigger, received } from './fixtures/webhooks';

/**
 * An erasure erases what names the customer anywhere we keep it (docs/privacy.md): seeded on every
 * channel, with a failing webhook, refusals in every protocol and a watching console, then every
 * store is searched for the customer id, as text and as a number. Only the lake keeps its
 * records, with a tombstone as each one's last version (covered in erasure.test.ts).
 */

const basic = (key: string) => `Basic ${btoa(`${key}:`)}`;
const iso = (minutesAgo: number) => new Date(Date.now() - minutesAgo * 60_000).toISOString();

/** The console's live WebSocket; what it receives. */
async function watch(sourceId: string) {
  const bearer = btoa(ADMIN_TOKEN).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
  const res = await call(`/api/v1/sources/${sourceId}/live`, { headers: { upgrade: 'websocket', 'sec-websocket-protocol': `web-events, bearer.${bearer}` } });
  const ws = res.webSocket!;
  const items: unknown[] = [];
  let messages = 0;
  ws.accept();
  ws.addEventListener('message', (m) => {
    messages += 1;
    items.push(...(JSON.parse(String(m.data)) as { items: unknown[] }).items);
  });
  return { ws, items, messages: () => messages };
}

/** Every row of every table of a SQL storage, as text. */
const dumpSql = (sql: SqlStorage) =>
  sql
    .exec<{ name: string }>("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name NOT LIKE '_cf_%'")
    .toArray()
    .map(({ name }) => `${name}: ${JSON.stringify(sql.exec(`SELECT * FROM "${name}"`).toArray())}`)
    .join('\n');

/** What an object holds: its SQL tables and its key-value pairs, as text. */
const dumpObject = (stub: DurableObjectStub) =>
  runInDurableObject(stub, async (_o, state) => `${dumpSql(state.storage.sql)}\n${JSON.stringify([...(await state.storage.list())])}`);

/** Every D1 table of every shard, as text (the migrations' own bookkeeping aside). */
async function dumpD1(): Promise<string> {
  const out: string[] = [];
  for (const { db } of shards(env)) {
    const { results } = await db
      .prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name NOT LIKE '_cf_%' AND name != 'd1_migrations'")
      .all<{ name: string }>();
    for (const { name } of results) out.push(`${name}: ${JSON.stringify((await db.prepare(`SELECT * FROM "${name}"`).all()).results)}`);
  }
  return out.join('\n');
}

const lines = (text: string, needle: string) => text.split('\n').filter((l) => l.includes(needle));

describe('an erasure leaves nothing behind', () => {
  it('seeded on every channel, refused in every protocol, watched live and waiting in the queue: afterwards no store names the customer', async () => {
    // A numeric id: it is sent as a number too (Segment's userId), and searched as one.
    const customer = String(100_000_000 + Math.floor(Math.random() * 899_999_999));
    const shop = await createSource({ kind: 'website', allowed_origins: [SHOP] });
    const app = await createSource({ kind: 'mobile_app' });
    const hash = (source: { identity_secret: string }) => customerHash(source.identity_secret, customer);
    const failing = `/hook/fail/${unique('erase')}`;
    const rule = await createTrigger(shop.id, { kind: 'event', event: 'user_login' }, failing);
    const console1 = await watch(shop.id);

    // Every channel.
    const rest = unique('s-rest');
    await postEvents(shop.secret_key, [event(rest, 'page_view', -9), event(rest, 'user_login', -8, { customer_id: customer })]);
    const tracked = unique('s-trk');
    const page = (s: string, extra: Record<string, unknown> = {}) => ({
      i: crypto.randomUUID(),
      s,
      n: 'page_view',
      t: Date.now() - 60_000,
      q: 1,
      u: `${SHOP}/`,
      ...extra,
    });
    expect((await beacon(shop.public_key, [page(tracked)])).status).toBe(204); // before the login: anonymous when the console saw it
    expect((await beacon(shop.public_key, [{ ...page(tracked), n: 'user_login', q: 2, t: Date.now(), cu: customer, ch: await hash(shop) }])).status).toBe(204);
    const sdkSession = unique('s-sdk');
    const sdk = await call('/v1/sdk/events', {
      method: 'POST',
      headers: { 'x-source-key': app.public_key },
      json: { events: [event(sdkSession, 'user_login', -1, { customer_id: customer, customer_hash: await hash(app) })] },
    });
    expect(sdk.status).toBe(200);
    const segmentDevice = unique('dev-seg');
    const segment = (await (
      await call('/v1/batch', {
        method: 'POST',
        headers: { authorization: basic(shop.secret_key) },
        json: { batch: [{ type: 'identify', userId: customer, anonymousId: segmentDevice, messageId: unique('m'), timestamp: iso(5) }] },
      })
    ).json()) as { results: { session_id: string }[] };
    const posthogDevice = unique('dev-ph');
    const posthog = (await (
      await call('/batch', {
        method: 'POST',
        json: {
          api_key: shop.secret_key,
          batch: [
            { event: '$identify', distinct_id: customer, timestamp: iso(4), uuid: crypto.randomUUID(), properties: { $anon_distinct_id: posthogDevice } },
          ],
        },
      })
    ).json()) as { results: { session_id: string }[] };
    const snowplowSession = crypto.randomUUID();
    await call('/com.snowplowanalytics.snowplow/tp2', {
      method: 'POST',
      json: {
        data: [{ aid: shop.secret_key, sid: snowplowSession, duid: unique('dev-sp'), uid: customer, eid: crypto.randomUUID(), e: 'pv', url: `${SHOP}/` }],
      },
    });

    // Refusals that name the customer outside a top-level customer field, in every protocol.
    const refusals = [
      call('/v1/batch', {
        method: 'POST',
        headers: { authorization: basic(shop.public_key), origin: SHOP },
        json: {
          batch: [
            { type: 'track', anonymousId: customer, messageId: unique('m') },
            { type: 'track', userId: Number(customer), messageId: unique('m') },
          ],
        },
      }),
      call('/batch', {
        method: 'POST',
        headers: { origin: SHOP },
        json: { api_key: shop.public_key, batch: [{ event: '', properties: { distinct_id: customer } }] },
      }),
      call('/com.snowplowanalytics.snowplow/tp2', {
        method: 'POST',
        json: { data: [{ aid: shop.secret_key, sid: unique('s'), uid: customer, e: 'ue', ue_pr: '{not json' }] },
      }),
      beacon(shop.public_key, [{ ...page(unique('s')), n: 'user_login', cu: customer }]), // no hash: refused
      postEvents(shop.secret_key, [event(unique('s'), 'Not A Name', 0, { customer_id: customer })]),
    ];
    await Promise.all(refusals);
    const rejections = async () =>
      ((await (await call(`/api/v1/sources/${shop.id}/rejections`, { token: ADMIN_TOKEN })).json()) as { rejections: unknown[] }).rejections.length;
    await eventually(async () => (await rejections()) >= 6);
    // The failing webhook went through its retries into a dead letter that names the customer.
    await eventually(
      async () => (await env.DB.prepare('SELECT count(*) AS n FROM trigger_dead_letters WHERE rule_id = ?').bind(rule.id).first<{ n: number }>())!.n > 0,
      25_000,
    );
    await eventually(async () => console1.items.length > 0);

    const firedBefore = new Date().toISOString();
    const res = await call(`/api/v1/customers/${customer}`, { method: 'DELETE', token: ADMIN_TOKEN });
    expect(res.status).toBe(200);
    const report = (await res.json()) as Record<string, number | boolean>;
    expect(report).toMatchObject({ complete: true });
    expect(report.console_items).toBeGreaterThanOrEqual(6);

    // A trigger message already on its way when the erasure came: dropped when delivered, and never a dead letter.
    const late: TriggerMessage = {
      rule_id: rule.id,
      idempotency_key: `${rule.id}:late`,
      source_id: shop.id,
      session: { id: tracked, customer_id: customer, anonymous: false },
      event_ids: [],
      fired_at: firedBefore,
    };
    const anonymousLate: TriggerMessage = { ...late, idempotency_key: `${rule.id}:late-anon`, session: { id: tracked, customer_id: null, anonymous: true } };
    for (const queue of ['web-events-triggers', 'web-events-triggers-dlq']) {
      const batch = createMessageBatch<TriggerMessage>(queue, [
        { id: 'late', timestamp: Date.now(), attempts: 3, body: late },
        { id: 'late-anon', timestamp: Date.now(), attempts: 3, body: anonymousLate },
      ]);
      const ctx = createExecutionContext();
      await worker.queue(batch, env, ctx);
      expect((await getQueueResult(batch, ctx)).explicitAcks.toSorted()).toEqual(['late', 'late-anon']);
    }
    expect((await received(failing)).some((r) => r.body.includes(':late'))).toBe(false);
    // One fired after the erasure is the customer's new activity: delivered (here: tried, and retried).
    const after = createMessageBatch<TriggerMessage>('web-events-triggers', [
      { id: 'after', timestamp: Date.now(), attempts: 1, body: { ...late, idempotency_key: `${rule.id}:after`, fired_at: new Date().toISOString() } },
    ]);
    const afterCtx = createExecutionContext();
    await worker.queue(after, env, afterCtx);
    expect((await getQueueResult(after, afterCtx)).retryMessages.map((m) => m.msgId)).toEqual(['after']);

    // A console opened after the erasure, while the first still watches, gets nothing of theirs.
    const console2 = await watch(shop.id);
    await eventually(async () => console2.messages() > 0);
    const shown = JSON.stringify(console2.items);
    expect(shown).not.toContain(customer);
    expect(shown).not.toContain(tracked);
    console1.ws.close();
    console2.ws.close();

    // Every store, searched.
    const found: string[] = [];
    found.push(...lines(await dumpD1(), customer).map((l) => `D1 ${l.slice(0, 200)}`));
    const sessions: [string, string][] = [
      [shop.id, rest],
      [shop.id, tracked],
      [app.id, sdkSession],
      [shop.id, segment.results[0]!.session_id],
      [shop.id, posthog.results[0]!.session_id],
      [shop.id, snowplowSession],
    ];
    for (const [source, id] of sessions)
      found.push(...lines(await dumpObject(env.SESSIONS.getByName(`${source}:${id}`)), customer).map((l) => `session ${id}: ${l.slice(0, 200)}`));
    for (const visitor of [`c:${customer}`, `a:${customer}`, `a:${segmentDevice}`, `a:${posthogDevice}`])
      found.push(...lines(await dumpObject(env.VISITORS.getByName(`${shop.id}:${visitor}`)), customer).map((l) => `visitor ${visitor}: ${l.slice(0, 200)}`));
    for (const source of [shop.id, app.id])
      found.push(...lines(await dumpObject(env.MONITORS.getByName(source)), customer).map((l) => `monitor ${source}: ${l.slice(0, 200)}`));
    expect(found).toEqual([]);
    // What the erasure keeps of itself: keyed hashes, no id.
    const record = await env.DB.prepare('SELECT key FROM erasures WHERE source_id = ?').bind(shop.id).all<{ key: string }>();
    expect(record.results.length).toBeGreaterThan(0);
    expect(record.results.every((r) => /^[0-9a-f]{64}$/.test(r.key))).toBe(true);
  }, 60_000);
});
