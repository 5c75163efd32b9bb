import { env } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import { customerShard, shardFor, shards } from '../src/storage/shards';
import { call, createSource, customerEvent, event, postEvents, unique } from './fixtures/api';
import { runAlarm } from './fixtures/sessions';

interface Page {
  events: { event_id: string; customer_id: string | null }[];
  next_cursor: string | null;
}

/** Two customer ids whose rows go to different shards. */
function customersOnTwoShards(): [string, string] {
  const first = unique('cust');
  for (;;) {
    const second = unique('cust');
    if (customerShard(env, second).name !== customerShard(env, first).name) return [first, second];
  }
}

const sessionRows = (db: D1Database, sourceId: string) =>
  db.prepare('SELECT customer_id FROM sessions WHERE source_id = ? ORDER BY customer_id').bind(sourceId).all<{ customer_id: string }>();

describe('D1 shards (wrangler.toml binds DB and DB_1)', () => {
  it("puts each customer's rows on their shard; the list, a segment and the customer reads see both shards", async () => {
    expect(shards(env).map((s) => s.name)).toEqual(['DB', 'DB_1']);
    const source = await createSource();
    const [ann, bob] = customersOnTwoShards();
    const sessions = { [ann]: unique('s'), [bob]: unique('s') };
    const product = { context: { type: 'product', id: 'sku-1', price: 12 } };
    const order = { context: { type: 'order', id: 'o-1', total: 12 } };
    const sent = [
      customerEvent(sessions[ann]!, 'product_view', -9, ann, product),
      customerEvent(sessions[bob]!, 'product_view', -8, bob, product),
      customerEvent(sessions[ann]!, 'order_complete', -7, ann, order),
      customerEvent(sessions[bob]!, 'order_complete', -6, bob, order),
      customerEvent(sessions[bob]!, 'page_view', -5, bob),
    ];
    const { body } = await postEvents(source.secret_key, sent);
    expect(body.results.map((r) => r.status)).toEqual(sent.map(() => 'accepted'));
    for (const id of Object.values(sessions)) await runAlarm(source.id, id);

    // Each customer's session on their own shard, and only there.
    for (const customer of [ann, bob]) {
      for (const shard of shards(env)) {
        const { results } = await sessionRows(shard.db, source.id);
        const here = results.some((r) => r.customer_id === customer);
        expect(here, `${customer} on ${shard.name}`).toBe(shard.name === customerShard(env, customer).name);
      }
    }

    // The partner list merges both shards in occurred_at order, one event a page, each once.
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const page = (await (await call(`/api/v1/web-events?limit=1${cursor ? `&cursor=${cursor}` : ''}`, { token: source.secret_key })).json()) as Page;
      seen.push(...page.events.map((e) => e.event_id));
      cursor = page.next_cursor;
    } while (cursor);
    expect(seen).toEqual(sent.map((e) => e.event_id));

    // A segment computed on both shards: its preview, its count and its members.
    const definition = { event: 'order_complete' };
    const preview = await call('/api/v1/segments/preview', { method: 'POST', token: source.secret_key, json: { definition } });
    expect(await preview.json()).toEqual({ count: 2, customer_ids: [ann, bob].sort() });
    const saved = (await (await call('/api/v1/segments', { method: 'POST', token: source.secret_key, json: { name: 'buyers', definition } })).json()) as {
      id: string;
      member_count: number;
    };
    expect(saved.member_count).toBe(2);
    const members = (await (await call(`/api/v1/segments/${saved.id}/customers`, { token: source.secret_key })).json()) as { customer_ids: string[] };
    expect(members.customer_ids).toEqual([ann, bob].sort());

    // Each customer's read finds their session, whichever shard holds it.
    for (const customer of [ann, bob]) {
      const res = await call(`/api/v1/customers/${customer}/sessions`, { token: source.secret_key });
      expect(((await res.json()) as { sessions: { session_id: string }[] }).sessions.map((s) => s.session_id)).toEqual([sessions[customer]]);
      const listed = (await (await call(`/api/v1/web-events?customer_id=${customer}`, { token: source.secret_key })).json()) as Page;
      expect(listed.events.every((e) => e.customer_id === customer)).toBe(true);
    }
  });

  it('an anonymous session writes its row to its own shard and moves it whole to its customer shard when linked', async () => {
    const source = await createSource();
    // A session whose own shard is not its customer's.
    const customer = unique('cust');
    const target = customerShard(env, customer).name;
    const ownShard = (id: string) => shardFor(env, { source_id: source.id, session_id: id, customer_id: null }).name;
    let sessionId = unique('s');
    while (ownShard(sessionId) === target) sessionId = unique('s');
    await postEvents(source.secret_key, [event(sessionId, 'page_view', -3)]);
    await runAlarm(source.id, sessionId);
    const where = async () => {
      const found: string[] = [];
      for (const shard of shards(env)) {
        const row = await shard.db.prepare('SELECT 1 FROM sessions WHERE source_id = ? AND session_id = ?').bind(source.id, sessionId).first();
        if (row) found.push(shard.name);
      }
      return found;
    };
    expect(await where()).toEqual([ownShard(sessionId)]);

    await postEvents(source.secret_key, [customerEvent(sessionId, 'user_login', -1, customer)]);
    await runAlarm(source.id, sessionId);
    expect(await where()).toEqual([target]);
  });
});
