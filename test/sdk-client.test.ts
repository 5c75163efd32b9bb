import { exports } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import { MemoryStorage, WebEventsClient } from '../src/sdk';
import { customerHash } from '../src/sources/identity';
import { createSource, unique } from './fixtures/api';
import { readSession } from './fixtures/sessions';

/** The real worker behind a network the test can cut, and that can answer 429 or 400 instead. */
function network() {
  const net = { online: true, answer: null as Response | null, calls: 0 };
  const fetcher: typeof fetch = async (input, init) => {
    net.calls += 1;
    if (!net.online) throw new TypeError('Network request failed');
    const canned = net.answer;
    net.answer = null;
    return canned ?? exports.default.fetch(new Request(input, init));
  };
  return { net, fetcher };
}

async function setup(extra: Partial<ConstructorParameters<typeof WebEventsClient>[0]> = {}) {
  const source = await createSource({ kind: 'mobile_app' });
  const { net, fetcher } = network();
  const clock = { now: Date.parse('2026-11-28T10:00:00Z') };
  const client = new WebEventsClient({
    endpoint: 'https://collector.test',
    sourceKey: source.public_key,
    fetch: fetcher,
    now: () => clock.now,
    random: () => 1,
    storage: new MemoryStorage(),
    device: { platform: 'ios', app_version: '4.2.0' },
    ...extra,
  });
  return { source, client, net, clock };
}

describe('the SDK against the real worker', () => {
  it('queues events while offline and delivers each exactly once when the network is back', async () => {
    const { source, client, net, clock } = await setup();
    const sessionId = unique('app-s');
    await client.setSessionId(sessionId);
    net.online = false;
    await client.event('screen_view', { params: { screen: 'home' } });
    await client.event('product_view', { context: { type: 'product', id: 'sku-1' } });
    expect(await client.flush()).toBe(0);
    expect(await client.pending()).toBe(2);

    net.online = true;
    expect(await client.flush()).toBe(0); // the backoff delay is still running
    clock.now += 2000;
    expect(await client.flush()).toBe(2);
    expect(await client.flush()).toBe(0);
    expect(await client.pending()).toBe(0);
    const { body } = await readSession(source.id, sessionId, source.secret_key);
    expect(body.events.map((e) => [e.name, e.seq])).toEqual([
      ['screen_view', 1],
      ['product_view', 2],
    ]);
    expect(body.session.event_count).toBe(2);
  });

  it('honours Retry-After on 429 before trying again', async () => {
    const { client, net, clock } = await setup();
    await client.event('screen_view');
    net.answer = new Response('{}', { status: 429, headers: { 'retry-after': '30' } });
    await client.flush();
    clock.now += 29_000;
    const callsBefore = net.calls;
    expect(await client.flush()).toBe(0);
    expect(net.calls).toBe(callsBefore); // not even tried
    clock.now += 1_000;
    expect(await client.flush()).toBe(1);
  });

  it('does not retry a batch the collector refused with a 4xx, and counts it', async () => {
    const { client, net } = await setup();
    await client.event('screen_view');
    net.answer = new Response('{"error":{"code":"invalid_request","message":"x"}}', { status: 400 });
    expect(await client.flush()).toBe(1);
    expect(await client.pending()).toBe(0);
    expect(client.dropped.rejected).toBe(1);
    const calls = net.calls;
    await client.flush();
    expect(net.calls).toBe(calls);
  });

  it('uses an app-owned session id as given, and identifies the customer on later events', async () => {
    const { source, client } = await setup();
    const sessionId = unique('app-owned');
    await client.setSessionId(sessionId);
    await client.event('screen_view');
    client.identify('cust-5', await customerHash(source.identity_secret, 'cust-5'));
    await client.event('purchase', { params: { total: 19 } });
    await client.flush();
    const { body } = await readSession(source.id, sessionId, source.secret_key);
    expect(body.session).toMatchObject({ session_id: sessionId, customer_id: 'cust-5', deanonymized_by: 'event' });
    expect(body.events.every((e) => e.customer_id === 'cust-5')).toBe(true);
  });

  it('rotates its own session after an hour of inactivity (fake clock), and on reset', async () => {
    const { client, clock } = await setup();
    await client.event('screen_view');
    const first = await client.sessionId();
    clock.now += 59 * 60_000;
    await client.event('screen_view');
    expect(await client.sessionId()).toBe(first);
    clock.now += 61 * 60_000;
    await client.event('screen_view');
    const second = await client.sessionId();
    expect(second).not.toBe(first);
    await client.reset();
    await client.event('screen_view');
    expect(await client.sessionId()).not.toBe(second);
  });

  it('bounds its queue, dropping the oldest first and counting them', async () => {
    const { source, client, net, clock } = await setup({ maxQueue: 3 });
    net.online = false;
    for (let i = 0; i < 5; i++) await client.event('tap', { params: { i } });
    expect(await client.pending()).toBe(3);
    expect(client.dropped.overflow).toBe(2);
    net.online = true;
    clock.now += 10 * 60_000;
    await client.flush();
    const { body } = await readSession(source.id, (await client.sessionId())!, source.secret_key);
    expect(body.events.map((e) => e.params?.i)).toEqual([2, 3, 4]);
  });
});
