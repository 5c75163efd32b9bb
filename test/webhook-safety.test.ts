import { createExecutionContext, createMessageBatch, getQueueResult } from 'cloudflare:test';
import { env } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import worker from '../src/index';
import type { TriggerMessage } from '../src/triggers/session-triggers';
import { webhookTargetProblem } from '../src/triggers/webhook-target';
import { ADMIN_TOKEN, call, createSource, event, postEvents, unique } from './fixtures/api';
import { received } from './fixtures/webhooks';

const createTrigger = (sourceId: string, webhook_url: string) =>
  call(`/api/v1/admin/sources/${sourceId}/triggers`, {
    method: 'POST',
    token: ADMIN_TOKEN,
    json: { name: 't', definition: { kind: 'event', event: 'search' }, webhook_url },
  });

describe('webhook targets', () => {
  it('must be https on a public host name on the default port: no IP address, no localhost, no internal names', () => {
    const refused = [
      'http://hooks.example.com/x',
      'http://127.0.0.1:1/',
      'https://127.0.0.1/',
      'https://169.254.169.254/latest/meta-data',
      'https://10.0.0.1/x',
      'https://2130706433/',
      'https://[::1]/',
      'https://[fd00::1]/',
      'https://localhost/',
      'https://api.localhost/',
      'https://metadata.google.internal/',
      'https://printer.local/',
      'https://intranet/',
      // A trailing dot (the DNS root) or a percent-encoded one names the same host.
      'https://localhost./',
      'https://localhost%2e/',
      'https://LocalHost./',
      'https://localhost../',
      'https://metadata.google.internal./',
      'https://printer.local./',
      'https://router.home.arpa./',
      // Only the default https port: another port is another service.
      'https://hooks.example.com:8443/',
      'https://hooks.example.com:80/',
      'https://user:pass@hooks.example.com/',
      'ftp://hooks.example.com/',
      'not a url',
    ];
    for (const url of refused) expect(webhookTargetProblem(url, false), url).not.toBeNull();
    expect(webhookTargetProblem('https://hooks.example.com/web-events?x=1', false)).toBeNull();
    expect(webhookTargetProblem('https://Hooks.Example.com.:443/x', false)).toBeNull();
    // Local development (ALLOW_INSECURE_WEBHOOKS=true): http and the loopback host, nothing else.
    expect(webhookTargetProblem('http://127.0.0.1:8788/hook', true)).toBeNull();
    expect(webhookTargetProblem('http://localhost:8788/hook', true)).toBeNull();
    expect(webhookTargetProblem('http://169.254.169.254/', true)).not.toBeNull();
    expect(webhookTargetProblem('http://10.1.2.3/', true)).not.toBeNull();
    expect(webhookTargetProblem('https://hooks.example.com:8443/', true)).not.toBeNull();
    expect(webhookTargetProblem('http://metadata.google.internal./', true)).not.toBeNull();
  });

  it('the admin API refuses a private target with the reason, even in local development', async () => {
    const source = await createSource();
    for (const url of [
      'http://169.254.169.254/latest/meta-data',
      'https://10.0.0.1/x',
      'https://metadata.google.internal./',
      'https://hooks.example.com:8443/',
    ]) {
      const res = await createTrigger(source.id, url);
      expect(res.status, url).toBe(400);
      expect(((await res.json()) as { error: { details: { path: string }[] } }).error.details[0]!.path).toBe('webhook_url');
    }
    expect((await createTrigger(source.id, 'https://hooks.example.com/x')).status).toBe(201);
  });

  it('a redirect is not followed: the delivery is retried, the redirect target receives nothing; a dead letter keeps ids, not events', async () => {
    const source = await createSource();
    const id = unique('r');
    const rule = (await (await createTrigger(source.id, `${env.RECEIVER_URL}/hook/redirect/${id}`)).json()) as { id: string };
    const sessionId = unique('s');
    const e = event(sessionId, 'search', 0, { context: { type: 'search', query: 'mug' } });
    await postEvents(source.secret_key, [e]);
    const message: TriggerMessage = {
      rule_id: rule.id,
      idempotency_key: `${rule.id}:${e.event_id}`,
      source_id: source.id,
      session: { id: sessionId, customer_id: null, anonymous: true },
      event_ids: [e.event_id],
      fired_at: new Date().toISOString(),
    };

    const batch = createMessageBatch<TriggerMessage>('web-events-triggers', [{ id: 'm1', timestamp: Date.now(), attempts: 1, body: message }]);
    await worker.queue(batch, env, createExecutionContext());
    const result = await getQueueResult(batch, createExecutionContext());
    expect([result.explicitAcks, result.retryMessages.map((m) => m.msgId)]).toEqual([[], ['m1']]);
    const sent = await received(`/hook/redirect/${id}`);
    expect(sent).toHaveLength(1);
    expect((JSON.parse(sent[0]!.body) as { events: { context: { query: string } }[] }).events[0]!.context.query).toBe('mug');
    expect(await received(`/hook/ok/${id}`)).toEqual([]);

    const dead = createMessageBatch<TriggerMessage>('web-events-triggers-dlq', [{ id: 'm1', timestamp: Date.now(), attempts: 6, body: message }]);
    await worker.queue(dead, env, createExecutionContext());
    const row = await env.DB.prepare('SELECT rule_id, source_id, customer_id, payload FROM trigger_dead_letters WHERE idempotency_key = ?')
      .bind(message.idempotency_key)
      .first<{ payload: string }>();
    expect(row).toMatchObject({ rule_id: rule.id, source_id: source.id, customer_id: null });
    expect(JSON.parse(row!.payload)).toMatchObject({ event_ids: [e.event_id] });
    expect(row!.payload).not.toContain('mug');
  });
});
