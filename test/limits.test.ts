import { describe, expect, it } from 'vitest';
import { LIMITS } from '../src/events/limits';
import { beacon, call, createSource, event, postEvents, SHOP, unique } from './fixtures/api';
import { d1Events, runAlarm } from './fixtures/sessions';

describe('limits an attacker or a bug will hit', () => {
  it('one beacon reaches at most 10 sessions: the events of the others are refused by name, nothing else is made', async () => {
    const shop = await createSource({ kind: 'website', allowed_origins: [SHOP] });
    const prefix = unique('s');
    const e = Array.from({ length: 500 }, (_, i) => ({ i: crypto.randomUUID(), s: `${prefix}-${i}`, n: 'page_view', t: Date.now(), q: 1, u: `${SHOP}/` }));
    const res = await beacon(shop.public_key, e);
    expect(res.status).toBe(400);
    const { error } = (await res.json()) as { error: { code: string; details: { path: string; message: string }[] } };
    expect(error.details).toHaveLength(490);
    expect(error.details[0]).toEqual({ path: 'e.10.session_id', message: expect.stringMatching(/at most 10 sessions/) });
    for (const [i, found] of [
      [9, true],
      [10, false],
    ] as const) {
      const read = await call(`/api/v1/sessions/${shop.id}/${prefix}-${i}`, { token: shop.secret_key });
      expect(read.status === 200).toBe(found);
    }
  });

  it(`a session holds at most ${LIMITS.sessionEvents} events; its live read comes in pages and its D1 write in chunks`, async () => {
    const source = await createSource({ session_timeout_s: 86_400 });
    const sessionId = unique('s');
    for (let b = 0; b < LIMITS.sessionEvents / 500; b++) {
      const batch = Array.from({ length: 500 }, (_, i) =>
        event(sessionId, 'page_view', -600 + (b * 500 + i) / 100, { seq: b * 500 + i, customer_id: 'cust-big' }),
      );
      const { body } = await postEvents(source.secret_key, batch);
      expect(body.results.every((r) => r.status === 'accepted')).toBe(true);
    }
    const over = event(sessionId, 'page_view', 0);
    const { body } = await postEvents(source.secret_key, [over, over]);
    expect(body.results.map((r) => [r.status, r.error?.code])).toEqual([
      ['rejected', 'session_full'],
      ['rejected', 'session_full'],
    ]);

    const seqs: number[] = [];
    let cursor: string | null = '';
    let pages = 0;
    while (cursor !== null) {
      const res = await call(`/api/v1/sessions/${source.id}/${sessionId}?limit=1000${cursor ? `&cursor=${cursor}` : ''}`, { token: source.secret_key });
      const page = (await res.json()) as { events: { seq: number }[]; next_cursor: string | null };
      expect(page.events.length).toBeLessThanOrEqual(1000);
      seqs.push(...page.events.map((e) => e.seq));
      cursor = page.next_cursor;
      pages++;
    }
    expect(pages).toBe(10);
    expect(seqs).toEqual(Array.from({ length: LIMITS.sessionEvents }, (_, i) => i));

    await runAlarm(source.id, sessionId); // the first 1,000; the rest follow back to back
    const written = async () => (await d1Events(source.id, sessionId)).length;
    const until = Date.now() + 30_000;
    while ((await written()) < LIMITS.sessionEvents && Date.now() < until) {
      await runAlarm(source.id, sessionId);
      await new Promise((r) => setTimeout(r, 20));
    }
    expect(await written()).toBe(LIMITS.sessionEvents);
  }, 60_000);

  it('a client over its rate gets 429 with Retry-After, which the tracker and SDK honour; another client is not affected', async () => {
    const app = await createSource({ kind: 'mobile_app' });
    const send = (ip: string) =>
      call('/v1/sdk/events', {
        method: 'POST',
        headers: { 'x-source-key': app.public_key, 'cf-connecting-ip': ip },
        json: { events: [event(unique('s'), 'app_open', 0)] },
      });
    const ip = `203.0.113.${Math.floor(Math.random() * 250)}`;
    // The tests' per-client limit is 20 per 10 s (vitest.config.ts; wrangler.toml says 300): 50 at once cross it,
    // even split across two windows.
    const answers = await Promise.all(Array.from({ length: 50 }, () => send(ip)));
    expect(answers.every((r) => r.status === 200 || r.status === 429)).toBe(true);
    const limited = answers.find((r) => r.status === 429) ?? null;
    expect(limited).not.toBeNull();
    expect(limited!.headers.get('retry-after')).toBe('10');
    expect(((await limited!.json()) as { error: { code: string } }).error.code).toBe('rate_limited');
    expect((await send('198.51.100.7')).status).toBe(200);
  });
});
