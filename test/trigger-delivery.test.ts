import { createExecutionContext, createMessageBatch, getQueueResult } from 'cloudflare:test';
import { env } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import worker from '../src/index';
import type { TriggerMessage } from '../src/triggers/session-triggers';
import { ADMIN_TOKEN, call, createSource, unique } from './fixtures/api';

// The queue consumer's batch, invoked for real against the test receiver. The receiver listens on
// 127.0.0.1; `localhost` reaches it too, and counts as another host.
const slowHost = env.RECEIVER_URL;
const fastHost = env.RECEIVER_URL.replace('127.0.0.1', 'localhost');
const SLOW_MS = 3_000;

/** What the receiver got at one path, with when each request arrived (the receiver's clock). */
const arrivals = async (url: string) => {
  const { origin, pathname } = new URL(url);
  return (await (await fetch(`${origin}/received${pathname}`)).json()) as { headers: Record<string, string>; at: number }[];
};

async function createRule(sourceId: string, webhook_url: string): Promise<string> {
  const res = await call(`/api/v1/admin/sources/${sourceId}/triggers`, {
    method: 'POST',
    token: ADMIN_TOKEN,
    json: { name: 't', definition: { kind: 'event', event: 'search' }, webhook_url },
  });
  expect(res.status).toBe(201);
  return ((await res.json()) as { id: string }).id;
}

const message = (ruleId: string, sourceId: string, key: string): TriggerMessage => ({
  rule_id: ruleId,
  idempotency_key: `${ruleId}:${key}`,
  source_id: sourceId,
  session: { id: unique('s'), customer_id: null, anonymous: true },
  event_ids: [],
  fired_at: new Date().toISOString(),
});

/** Runs one batch through the consumer: the message ids acked and retried. */
async function deliver(messages: { id: string; body: TriggerMessage }[]) {
  const batch = createMessageBatch<TriggerMessage>(
    'web-events-triggers',
    messages.map((m) => ({ ...m, timestamp: Date.now(), attempts: 1 })),
  );
  await worker.queue(batch, env, createExecutionContext());
  const result = await getQueueResult(batch, createExecutionContext());
  return { acked: result.explicitAcks.toSorted(), retried: result.retryMessages.map((m) => m.msgId).toSorted() };
}

describe('trigger delivery', () => {
  it("a slow receiver holds up no other host's webhooks; its host's remaining messages go back to the queue", async () => {
    const source = await createSource();
    const id = unique('d');
    const slowUrl = `${slowHost}/hook/slow/${SLOW_MS}/${id}`;
    const fastUrl = `${fastHost}/hook/ok/${id}`;
    const slowRule = await createRule(source.id, slowUrl);
    const fastRule = await createRule(source.id, fastUrl);
    // The slow host's messages first: posted in turn, the fast host's would come after all of them.
    const slow = Array.from({ length: 7 }, (_, i) => ({ id: `slow${i}`, body: message(slowRule, source.id, `slow${i}`) }));
    const fast = Array.from({ length: 3 }, (_, i) => ({ id: `fast${i}`, body: message(fastRule, source.id, `fast${i}`) }));

    const { acked, retried } = await deliver([...slow, ...fast]);

    const slowGot = await arrivals(slowUrl);
    const fastGot = await arrivals(fastUrl);
    expect(fastGot).toHaveLength(3);
    // Each fast webhook arrived before the slow receiver had answered its first request.
    for (const f of fastGot) expect(f.at).toBeLessThan(slowGot[0]!.at + SLOW_MS);
    // 3 s a request against a 5 s budget: one or two were posted (and acked), the rest sent back unposted.
    expect(slowGot.length).toBeGreaterThanOrEqual(1);
    expect(slowGot.length).toBeLessThanOrEqual(2);
    const posted = new Set(slowGot.map((r) => r.headers['idempotency-key']));
    const slowIds = (wasPosted: boolean) => slow.filter((m) => posted.has(m.body.idempotency_key) === wasPosted).map((m) => m.id);
    expect(acked).toEqual([...fast.map((m) => m.id), ...slowIds(true)].toSorted());
    expect(retried).toEqual(slowIds(false).toSorted());
  });

  it("seven slow receivers, each on its own host, hold up no other merchant's webhooks: past 2 s, a waiting webhook cuts one", async () => {
    const source = await createSource();
    const id = unique('d');
    const slowUrls = env.OTHER_RECEIVER_URLS.split(' ').map((host, i) => `${host}/hook/slow/${SLOW_MS}/${id}-${i}`);
    expect(slowUrls).toHaveLength(7);
    const fastUrl = `${fastHost}/hook/ok/${id}`;
    const slowRules = await Promise.all(slowUrls.map((url) => createRule(source.id, url)));
    const fastRule = await createRule(source.id, fastUrl);
    const slow = slowRules.map((rule, i) => ({ id: `slow${i}`, body: message(rule, source.id, `slow${i}`) }));
    const fast = Array.from({ length: 3 }, (_, i) => ({ id: `fast${i}`, body: message(fastRule, source.id, `fast${i}`) }));

    const { acked, retried } = await deliver([...slow, ...fast]);

    const slowGot = (await Promise.all(slowUrls.map(arrivals))).flat();
    const fastGot = await arrivals(fastUrl);
    expect(fastGot).toHaveLength(3);
    expect(slowGot).toHaveLength(7); // each slow receiver was asked once
    // Each fast webhook arrived before any slow receiver had answered (they answer SLOW_MS after arrival).
    const firstAnswer = Math.min(...slowGot.map((r) => r.at)) + SLOW_MS;
    for (const f of fastGot) expect(f.at).toBeLessThan(firstAnswer);
    // As many were cut as webhooks waited (the seventh slow one and the fast host's): back to the queue.
    // The others, and the seventh, answered in time and were delivered.
    expect(retried.length).toBeGreaterThanOrEqual(2);
    expect(retried.length).toBeLessThanOrEqual(6);
    expect(retried.every((m) => m.startsWith('slow'))).toBe(true);
    expect(acked).toEqual([...fast.map((m) => m.id), ...slow.map((m) => m.id).filter((m) => !retried.includes(m))].toSorted());
  });

  it('a receiver that fails quickly is not slow: each of its messages is posted, then retried', async () => {
    const source = await createSource();
    const url = `${fastHost}/hook/fail/${unique('d')}`;
    const rule = await createRule(source.id, url);
    const messages = Array.from({ length: 8 }, (_, i) => ({ id: `m${i}`, body: message(rule, source.id, `m${i}`) }));

    const { acked, retried } = await deliver(messages);

    expect(await arrivals(url)).toHaveLength(8);
    expect([acked, retried]).toEqual([[], messages.map((m) => m.id).toSorted()]);
  });

  it('a message whose rule was removed is acked without a post', async () => {
    const source = await createSource();
    const url = `${fastHost}/hook/ok/${unique('d')}`;
    const rule = await createRule(source.id, url);
    expect((await call(`/api/v1/admin/sources/${source.id}/triggers/${rule}`, { method: 'DELETE', token: ADMIN_TOKEN })).ok).toBe(true);

    expect(await deliver([{ id: 'm1', body: message(rule, source.id, 'm1') }])).toEqual({ acked: ['m1'], retried: [] });
    expect(await arrivals(url)).toEqual([]);
  });
});
