import { hex, hmacSha256 } from '../encoding';
import { getRule, recordDeadLetter } from '../storage/triggers';
import type { TriggerMessage } from './session-triggers';


/** `sha256=<hex HMAC-SHA256(secret, body)>`, the signature header a receiver checks. */
export async function signature(secret: string, body: string): Promise<string> {
  return `sha256=${hex(await hmacSha256(secret, body))}`;
}

/** Retry delay: 10 s doubling per attempt, capped at 10 minutes (the TRIGGER_RETRY_BASE_S var scales it). */
export const retryDelayS = (attempts: number, baseS: number) => Math.min(600, baseS * 2 ** Math.max(0, attempts - 1));

/** The queue consumer: posts each fired trigger to its rule's webhook, signed; a failure retries with backoff. */
export async function deliverTriggers(batch: MessageBatch<TriggerMessage>, env: Env): Promise<void> {
  const baseS = Number(env.TRIGGER_RETRY_BASE_S ?? 10);
  for (const msg of batch.messages) {
    const rule = await getRule(env.DB, msg.body.rule_id);
    if (!rule?.active) {
      msg.ack(); // the rule was removed meanwhile: nobody expects this message
      continue;
    }
    const body = JSON.stringify({ ...msg.body, rule: { id: rule.id, name: rule.name, definition: rule.definition } });
    try {
      const res = await fetch(rule.webhook_url, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'idempotency-key': msg.body.idempotency_key,
          'x-webevents-signature': await signature(rule.secret, body),
        },
        body,
      });
      if (res.ok) {
        msg.ack();
        continue;
      }
      console.warn(JSON.stringify({ message: 'webhook refused', rule: rule.id, status: res.status, attempts: msg.attempts }));
    } catch (error) {
      console.warn(JSON.stringify({ message: 'webhook unreachable', rule: rule.id, attempts: msg.attempts, error: String(error) }));
    }
    msg.retry({ delaySeconds: retryDelayS(msg.attempts, baseS) });
  }
}

/** The dead-letter queue's consumer: keeps what exhausted its retries in D1, for operators. */
export async function recordDeadTriggers(batch: MessageBatch<TriggerMessage>, env: Env): Promise<void> {
  for (const msg of batch.messages) {
    await recordDeadLetter(env.DB, msg.body.rule_id, msg.body.idempotency_key, JSON.stringify(msg.body));
    msg.ack();
  }
}
