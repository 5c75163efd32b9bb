import { describe, expect, it } from 'vitest';
import { ADMIN_TOKEN, beacon, call, createSource, event, postEvents, SHOP, unique } from './fixtures/api';
import { eventually } from './fixtures/sessions';

interface Rejections {
  rejections: { code: string; message: string; paths: string[]; payload: string; channel: string }[];
  next: number | null;
}
interface Health {
  last_event_at: string | null;
  minutes: { kind: string; n: number }[];
}
const total = (h: Health, kind: string) => h.minutes.filter((m) => m.kind === kind).reduce((n, m) => n + m.n, 0);

/** Opens the console's WebSocket with the key as its subprotocol; collects what it receives. */
async function watch(sourceId: string, key: string) {
  const bearer = btoa(key).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
  const res = await call(`/api/v1/sources/${sourceId}/live`, { headers: { upgrade: 'websocket', 'sec-websocket-protocol': `web-events, bearer.${bearer}` } });
  const ws = res.webSocket;
  if (!ws) throw new Error(`no WebSocket: ${res.status} ${await res.text()}`);
  const items: unknown[] = [];
  ws.accept();
  ws.addEventListener('message', (m) => items.push(...(JSON.parse(String(m.data)) as { items: unknown[] }).items));
  return { ws, items, protocol: res.headers.get('sec-websocket-protocol') };
}

describe('the console API: rejections, health, live events', () => {
  it('lists a refused event with its reason, fields and what was sent, beside the good one stored', async () => {
    const source = await createSource();
    const sessionId = unique('s');
    const res = await postEvents(source.secret_key, [event(sessionId, 'page_view', 0), { session_id: sessionId, name: 'BAD NAME', occurred_at: 'yesterday' }]);
    expect(res.body.results.map((r: { status: string }) => r.status)).toEqual(['accepted', 'rejected']);
    let page: Rejections = { rejections: [], next: null };
    await eventually(async () => {
      page = (await (await call(`/api/v1/sources/${source.id}/rejections`, { token: source.secret_key })).json()) as Rejections;
      return page.rejections.length === 1;
    });
    expect(page.rejections[0]).toMatchObject({ code: 'invalid_event', channel: 'api', paths: ['name'] });
    expect(JSON.parse(page.rejections[0]!.payload)).toEqual({ session_id: sessionId, name: 'BAD NAME', occurred_at: 'yesterday' });
    // A secret key reads its own source only; the admin token any.
    const other = await createSource();
    expect((await call(`/api/v1/sources/${source.id}/rejections`, { token: other.secret_key })).status).toBe(403);
    expect((await call(`/api/v1/sources/${source.id}/rejections`, { token: ADMIN_TOKEN })).status).toBe(200);
  });

  it('keeps no secret key, identity secret or customer hash of a refused event, wherever it was sent', async () => {
    const source = await createSource({ kind: 'website', allowed_origins: [SHOP] });
    const sessionId = unique('s');
    const { secret_key: sk, identity_secret: idsec } = source;
    await postEvents(sk, [
      {
        session_id: sessionId,
        name: 'BAD NAME',
        occurred_at: new Date().toISOString(),
        customer_hash: 'a'.repeat(64),
        params: {
          auth: `Bearer ${sk}`,
          link: `https://shop.example/cb?key=${sk}&x=1`,
          [sk]: 1,
          signed: `hmac:${idsec}`,
          nested: { [idsec]: { customer_hash: 'b' } },
        },
      },
    ]);
    // The tracker's beacon names the hash `ch`.
    await beacon(source.public_key, [
      { i: crypto.randomUUID(), s: sessionId, n: 'BAD NAME', t: Date.now(), u: `${SHOP}/?k=${sk}`, cu: 'cust-1', ch: 'c'.repeat(64) },
    ]);
    let page: Rejections = { rejections: [], next: null };
    await eventually(async () => {
      page = (await (await call(`/api/v1/sources/${source.id}/rejections`, { token: sk })).json()) as Rejections;
      return page.rejections.length === 2;
    });
    const kept = JSON.stringify(page);
    for (const secret of [sk, idsec, 'a'.repeat(64), 'c'.repeat(64)]) expect(kept).not.toContain(secret);
    expect(kept).not.toMatch(/customer_hash|"ch"/);
    const api = page.rejections.find((r) => r.channel === 'api')!;
    expect(JSON.parse(api.payload).params).toEqual({
      auth: 'Bearer [secret key]',
      link: 'https://shop.example/cb?key=[secret key]&x=1',
      '[secret key]': 1,
      signed: 'hmac:[identity secret]',
      nested: { '[identity secret]': {} },
    });
  });

  it('counts accepted, duplicate and bot-dropped events per minute, with the last event seen', async () => {
    const source = await createSource({ kind: 'website', allowed_origins: [SHOP] });
    const sessionId = unique('s');
    const e = { i: crypto.randomUUID(), s: sessionId, n: 'page_view', t: Date.now(), u: `${SHOP}/` };
    await beacon(source.public_key, [e]);
    await beacon(source.public_key, [e]); // a retry
    await beacon(source.public_key, [{ ...e, i: crypto.randomUUID() }], { 'user-agent': 'Googlebot/2.1 (+http://www.google.com/bot.html)' });
    let health: Health = { last_event_at: null, minutes: [] };
    await eventually(async () => {
      // Counts go to the monitor at most every 2 s per isolate: a later request carries them.
      await call('/');
      health = (await (await call(`/api/v1/sources/${source.id}/health?range=hour`, { token: source.secret_key })).json()) as Health;
      return total(health, 'accepted') === 1 && total(health, 'duplicate') === 1 && total(health, 'bot') === 1;
    });
    expect(health.last_event_at).not.toBeNull();
  });

  it('streams accepted events and rejections to a watching console, and only the key’s own source', async () => {
    const source = await createSource();
    const other = await createSource();
    const refused = await call(`/api/v1/sources/${source.id}/live`, {
      headers: { upgrade: 'websocket', 'sec-websocket-protocol': `bearer.${btoa(other.secret_key).replace(/=+$/, '')}` },
    });
    expect(refused.status).toBe(403);

    const { ws, items, protocol } = await watch(source.id, source.secret_key);
    expect(protocol).toBe('web-events');
    const sessionId = unique('s');
    // The worker learns that someone watches from its next send to the monitor.
    await eventually(async () => {
      await postEvents(source.secret_key, [event(sessionId, 'page_view', 0)]);
      return items.some((i) => (i as { session_id?: string }).session_id === sessionId);
    });
    await postEvents(source.secret_key, [{ session_id: sessionId, name: 'Nope', occurred_at: new Date().toISOString() }]);
    await eventually(async () => items.some((i) => (i as { rejected?: { paths: string[] } }).rejected?.paths[0] === 'name'));
    ws.close();
  });

  it('forgets the rejections that name an erased customer, and keeps the others', async () => {
    const source = await createSource();
    const bad = (customer: string) => ({ session_id: unique('s'), name: 'Bad Name', occurred_at: new Date().toISOString(), customer_id: customer });
    await postEvents(source.secret_key, [bad('cust-forget-me'), bad('cust-keep-me')]);
    const list = async () => ((await (await call(`/api/v1/sources/${source.id}/rejections`, { token: source.secret_key })).json()) as Rejections).rejections;
    await eventually(async () => (await list()).length === 2);
    expect((await call('/api/v1/customers/cust-forget-me', { method: 'DELETE', token: source.secret_key })).status).toBe(200);
    expect((await list()).map((r) => JSON.parse(r.payload).customer_id)).toEqual(['cust-keep-me']);
  });
});
