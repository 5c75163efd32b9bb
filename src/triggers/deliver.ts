import { tunables } from '../config';
import { hex, hmacSha256 } from '../encoding';
import { sessionObjectName } from '../events/session-record';
import { count } from '../monitor/feed';
import { getRule, recordDeadLetter } from '../storage/triggers';
import { checkedRule } from './rules';
import type { TriggerMessage } from './session-triggers';
import { webhookTargetProblem } from './webhook-target';

/** How long a receiver has to answer. */
const WEBHOOK_TIMEOUT_MS = 10_000;

/**
 * The signature header a receiver checks: `t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`.
 * Signing the time lets receivers refuse a replayed delivery (docs/security.md has the check).
 */
export async function signature(secret: string, body: string, at: number): Promise<string> {
  const t = Math.floor(at / 1000);
  return `t=${t},v1=${hex(await hmacSha256(secret, `${t}.${body}`))}`;
}

/** Retry delay: the base doubling per attempt, capped at 10 minutes (the TRIGGER_RETRY_BASE_S var sets the base). */
export const retryDelayS = (attempts: number, baseS: number) => Math.min(600, baseS * 2 ** Math.max(0, attempts - 1));

/** The queue consumer: posts each fired trigger, with its events, to its rule's webhook, signed; a failure retries with backoff. */
export async function deliverTriggers(batch: MessageBatch<TriggerMessage>, env: Env): Promise<void> {
  const settings = tunables(env);
  for (const msg of batch.messages) {
    const stored = await getRule(env.DB, msg.body.rule_id);
    const rule = stored && checkedRule(stored);
    if (!rule?.active) {
      msg.ack(); // the rule was removed meanwhile: nobody expects this message
      continue;
    }
    const problem = webhookTargetProblem(rule.webhook_url, settings.allowInsecureWebhooks);
    if (problem) {
      console.warn(JSON.stringify({ message: 'webhook target refused', rule: rule.id, problem }));
      msg.ack(); // a rule made before targets were checked: it can never be delivered
      continue;
    }
    // Messages queued before ids replaced events (a deploy in between) still carry their events.
    const { event_ids = [], events: carried, ...fired } = msg.body as TriggerMessage & { events?: unknown[] };
    const events =
      carried ?? (event_ids.length ? await env.SESSIONS.getByName(sessionObjectName(fired.source_id, fired.session.id)).eventsById(event_ids) : []);
    const body = JSON.stringify({ ...fired, events, rule: { id: rule.id, name: rule.name, definition: rule.definition } });
    try {
      const res = await fetch(rule.webhook_url, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'idempotency-key': fired.idempotency_key,
          'x-webevents-signature': await signature(rule.secret, body, Date.now()),
        },
        body,
        redirect: 'manual', // a redirect could point anywhere: never followed
        signal: AbortSignal.timeout(WEBHOOK_TIMEOUT_MS),
      });
      if (res.ok) {
        msg.ack();
        count(fired.source_id, 'webhook_delivered');
        continue;
      }
      console.warn(JSON.stringify({ message: 'webhook refused', rule: rule.id, status: res.status, attempts: msg.attempts }));
    } catch (error) {
      console.warn(JSON.stringify({ message: 'webhook unreachable', rule: rule.id, attempts: msg.attempts, error: String(error) }));
    }
    msg.retry({ delaySeconds: retryDelayS(msg.attempts, settings.triggerRetryBaseS) });
    count(fired.source_id, 'webhook_retried');
  }
}

/** The dead-letter queue's consumer: keeps what exhausted its retries in D1 (ids, not events), for operators. */
export async function recordDeadTriggers(batch: MessageBatch<TriggerMessage>, env: Env): Promise<void> {
  for (const msg of batch.messages) {
    const m = msg.body;
    await recordDeadLetter(env.DB, {
      ruleId: m.rule_id,
      key: m.idempotency_key,
      sourceId: m.source_id,
      customerId: m.session.customer_id,
      payload: JSON.stringify(m),
    });
    msg.ack();
    count(m.source_id, 'webhook_dead_lettered');
  }
}
