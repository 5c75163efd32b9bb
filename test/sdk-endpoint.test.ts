import { describe, expect, it } from 'vitest';
import { customerHash } from '../src/sources/identity';
import { call, createSource, event, unique } from './fixtures/api';
import { d1Session, readSession, runAlarm } from './fixtures/sessions';

async function sdkPost(key: string | null, body: unknown, gzip = false) {
  const json = JSON.stringify(body);
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (key) headers['x-source-key'] = key;
  let payload: BodyInit = json;
  if (gzip) {
    headers['content-encoding'] = 'gzip';
    payload = await new Response(new Blob([json]).stream().pipeThrough(new CompressionStream('gzip'))).arrayBuffer();
  }
  const res = await call('/v1/sdk/events', { method: 'POST', body: payload, headers });
  return {
    status: res.status,
    body: (await res.json()) as { results: { status: string; error?: { details: { path: string }[] } }[]; error?: { code: string } },
  };
}

const app = () => createSource({ kind: 'mobile_app' });
const device = { platform: 'android', os_version: '15', app_version: '4.2.0', device_model: 'Pixel 9', locale: 'de-DE' };

describe('POST /v1/sdk/events', () => {
  it('takes a gzip batch, with the device facts merged into each event (channel sdk)', async () => {
    const source = await app();
    const sessionId = unique('s');
    const { status, body } = await sdkPost(
      source.public_key,
      { device, events: [event(sessionId, 'screen_view', -1, { params: { screen: 'home' }, device: { locale: 'en-GB' } })] },
      true,
    );
    expect(status).toBe(200);
    expect(body.results[0]!.status).toBe('accepted');
    const live = await readSession(source.id, sessionId, source.secret_key);
    expect(live.body.events[0]).toMatchObject({ channel: 'sdk', name: 'screen_view', device: { ...device, locale: 'en-GB' } });
  });

  it('answers per event for a batch mixing good, duplicate and invalid events', async () => {
    const source = await app();
    const sessionId = unique('s');
    const good = event(sessionId, 'product_view', -2, { context: { type: 'product', id: 'sku-1' } });
    await sdkPost(source.public_key, { events: [good] });
    const { body } = await sdkPost(source.public_key, { events: [good, event(sessionId, 'product_view', -1), event(sessionId, 'page_view', 0)] });
    expect(body.results.map((r) => r.status)).toEqual(['duplicate', 'rejected', 'accepted']);
    expect(body.results[1]!.error!.details[0]!.path).toBe('context');
  });

  it('refuses a missing or unknown key, and a website or server key', async () => {
    const batch = { events: [event(unique('s'), 'page_view', 0)] };
    expect((await sdkPost(null, batch)).status).toBe(401);
    expect((await sdkPost('pk_unknown', batch)).status).toBe(401);
    for (const kind of ['website', 'server']) {
      const other = await createSource({ kind });
      const res = await sdkPost(other.public_key, batch);
      expect(res.status).toBe(403);
      expect(res.body.error!.code).toBe('wrong_source_kind');
    }
  });

  it('a late SDK event re-opens a closed session, and an event with customer_id de-anonymizes it', async () => {
    const source = await createSource({ kind: 'mobile_app', session_timeout_s: 1800 });
    const sessionId = unique('s');
    await sdkPost(source.public_key, { events: [event(sessionId, 'screen_view', -20), event(sessionId, 'screen_view', -10)] });
    await runAlarm(source.id, sessionId); // the inactivity close, 30 minutes after the last event, written out then
    expect(await d1Session(source.id, sessionId)).toMatchObject({ status: 'closed', event_count: 2 });

    const proof = await customerHash(source.identity_secret, 'cust-9');
    const { body } = await sdkPost(source.public_key, { events: [event(sessionId, 'purchase_started', 0, { customer_id: 'cust-9', customer_hash: proof })] });
    expect(body.results[0]!.status).toBe('accepted');
    const live = await readSession(source.id, sessionId, source.secret_key);
    expect(live.body.session).toMatchObject({ status: 'open', customer_id: 'cust-9', deanonymized_by: 'event', event_count: 3 });
    expect(live.body.events.map((e) => e.customer_id)).toEqual(['cust-9', 'cust-9', 'cust-9']);
  });

  it('is in the OpenAPI document with its key header', async () => {
    const doc = (await (await call('/openapi.json')).json()) as {
      paths: Record<string, unknown>;
      components: { securitySchemes: Record<string, { name?: string }> };
    };
    expect(doc.paths['/v1/sdk/events']).toBeDefined();
    expect(doc.components.securitySchemes.sdkKey!.name).toBe('X-Source-Key');
  });
});
