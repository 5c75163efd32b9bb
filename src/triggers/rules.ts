import { z } from '@hono/zod-openapi';
import type { WebEvent } from '../events/schema';
import { EventName } from '../events/schema';
import type { SessionRecord } from '../events/session-record';
import { FIELD_PATH, FieldCondition } from '../segments/definition';
import type { StoredRule } from '../storage/triggers';

/** "When this event happens (with these fields, in a session in this state)". */
export const EventRule = z
  .object({
    kind: z.literal('event'),
    event: EventName,
    where: z.array(FieldCondition).max(20).optional(),
    session: z.enum(['anonymous', 'identified', 'any']).default('any'),
  })
  .openapi('EventTrigger', { example: { kind: 'event', event: 'product_view', where: [{ field: 'price', op: 'gt', value: 100 }], session: 'anonymous' } });

/**
 * "When `after` is not followed by `missing` within N minutes" (lost cart, lost view), or, with
 * `after: "session_close"`, "when the session closed without `missing`".
 */
export const AbsenceRule = z
  .object({
    kind: z.literal('absence'),
    after: z.union([EventName, z.literal('session_close')]),
    missing: EventName,
    within_minutes: z
      .number()
      .int()
      .min(1)
      .max(60 * 24 * 30)
      .optional(),
    session: z.enum(['anonymous', 'identified', 'any']).default('any'),
  })
  .refine((r) => r.after === 'session_close' || r.within_minutes !== undefined, {
    message: 'within_minutes is required unless after is session_close',
    path: ['within_minutes'],
  })
  .openapi('AbsenceTrigger', { example: { kind: 'absence', after: 'container_add', missing: 'order_complete', within_minutes: 60 } });

export const TriggerDefinition = z.union([EventRule, AbsenceRule]);
export type TriggerDefinition = z.infer<typeof TriggerDefinition>;

/** What a session object needs of a rule: no webhook, no secret. */
export interface ActiveRule {
  id: string;
  definition: TriggerDefinition;
}

/** A stored rule with its definition checked (it was checked when made: this only types it). */
export type TriggerRule = StoredRule<TriggerDefinition>;
export const checkedRule = <R extends { definition: unknown }>(rule: R): R & { definition: TriggerDefinition } => ({
  ...rule,
  definition: TriggerDefinition.parse(rule.definition),
});

function fieldValue(event: WebEvent, path: string): unknown {
  const [, column = 'context', rest = ''] = FIELD_PATH.exec(path) ?? [];
  let value: unknown = column === 'params' ? event.params : column === 'page' ? event.page : event.context;
  for (const key of rest.split('.')) value = value !== null && typeof value === 'object' ? (value as Record<string, unknown>)[key] : undefined;
  return value;
}

/** The same operators as segments, on one event in memory. */
export function fieldMatches(event: WebEvent, c: FieldCondition): boolean {
  const v = fieldValue(event, c.field);
  switch (c.op) {
    case 'exists':
      return v !== undefined && v !== null;
    case 'in':
      return c.value.some((x) => x === v);
    case 'contains':
      return typeof v === 'string' && v.includes(String(c.value));
    case 'eq':
      return v === c.value;
    case 'neq':
      return v !== c.value;
    default: {
      if (typeof v !== typeof c.value || (typeof v !== 'number' && typeof v !== 'string')) return false;
      const [a, b] = [v as number | string, c.value];
      return c.op === 'gt' ? a > b : c.op === 'gte' ? a >= b : c.op === 'lt' ? a < b : a <= b;
    }
  }
}

export const sessionStateMatches = (want: 'anonymous' | 'identified' | 'any', session: SessionRecord) =>
  want === 'any' || (want === 'identified') === (session.customer_id !== null);

export const eventRuleMatches = (rule: z.infer<typeof EventRule>, event: WebEvent, session: SessionRecord) =>
  rule.event === event.name && sessionStateMatches(rule.session, session) && (rule.where ?? []).every((c) => fieldMatches(event, c));
