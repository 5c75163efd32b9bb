import { z } from '@hono/zod-openapi';
import { EventName } from '../events/schema';

/** Where a field path may point: the event's snapshot, its params, or its page. */
export const FIELD_PATH = /^(?:(context|params|page)\.)?([A-Za-z_][A-Za-z0-9_]{0,63}(?:\.[A-Za-z_][A-Za-z0-9_]{0,63}){0,4})$/;

const Scalar = z.union([z.string().max(1024), z.number(), z.boolean()]);

export const FieldCondition = z
  .discriminatedUnion('op', [
    z.object({ field: z.string(), op: z.enum(['eq', 'neq', 'contains']), value: Scalar }),
    z.object({ field: z.string(), op: z.enum(['gt', 'gte', 'lt', 'lte']), value: z.union([z.number(), z.string().max(64)]) }),
    z.object({ field: z.string(), op: z.literal('in'), value: z.array(Scalar).min(1).max(100) }),
    z.object({ field: z.string(), op: z.literal('exists') }),
  ])
  .refine((c) => FIELD_PATH.test(c.field), {
    message: 'field must be a path such as price, context.price, params.rating or page.url',
    path: ['field'],
  })
  .openapi('SegmentFieldCondition', { example: { field: 'price', op: 'gt', value: 100 } });
export type FieldCondition = z.infer<typeof FieldCondition>;

const Days = z.number().int().min(0).max(3650);

/** "Did this event, so many times, in this window, with these fields, this recently." */
export const EventCondition = z
  .object({
    event: EventName,
    source_id: z.string().min(1).max(64).optional(),
    within_days: Days.optional(),
    from: z.iso.datetime({ offset: true }).optional(),
    to: z.iso.datetime({ offset: true }).optional(),
    count: z
      .object({ gte: z.number().int().min(0), lte: z.number().int().min(0), eq: z.number().int().min(0) })
      .partial()
      .refine((c) => Object.keys(c).length === 1, 'give exactly one of gte, lte, eq')
      .optional(),
    where: z.array(FieldCondition).max(20).optional(),
    last_within_days: Days.optional(),
    last_before_days: Days.optional(),
  })
  .strict()
  .refine((c) => c.within_days === undefined || (c.from === undefined && c.to === undefined), 'use within_days or from/to, not both')
  .openapi('SegmentEventCondition', {
    description: 'Customers with events of this name (default: at least one) matching the window, the fields and the recency.',
    example: { event: 'product_view', within_days: 7, count: { gte: 3 } },
  });
export type EventCondition = z.infer<typeof EventCondition>;

export const CustomerFilter = z
  .union([z.object({ has_session_from: z.string().min(1).max(64) }).strict(), z.object({ identified: z.literal(true) }).strict()])
  .openapi('SegmentCustomerFilter', { description: 'Has any session from a source; or is identified at all (every member is).' });
export type CustomerFilter = z.infer<typeof CustomerFilter>;

export type SegmentNode = EventCondition | CustomerFilter | { all: SegmentNode[] } | { any: SegmentNode[] } | { not: SegmentNode };

export const SegmentNode: z.ZodType<SegmentNode> = z
  .lazy(() =>
    z.union([
      z.object({ all: z.array(SegmentNode).min(1).max(20) }).strict(),
      z.object({ any: z.array(SegmentNode).min(1).max(20) }).strict(),
      z.object({ not: SegmentNode }).strict(),
      EventCondition,
      CustomerFilter,
    ]),
  )
  .openapi('SegmentNode');

/** Nesting and size stay small enough that the SQL stays far below D1's 100 KB per statement. */
export const MAX_DEPTH = 6;
export const MAX_CONDITIONS = 40;

export function measure(node: SegmentNode, depth = 1): { depth: number; conditions: number } {
  // Also called on input that failed other checks (zod still runs refinements): never assume shape.
  if (typeof node !== 'object' || node === null) return { depth, conditions: 1 };
  const children = 'all' in node ? node.all : 'any' in node ? node.any : 'not' in node ? [node.not] : null;
  if (!Array.isArray(children)) return { depth, conditions: 1 };
  return children
    .map((c) => measure(c, depth + 1))
    .reduce((a, b) => ({ depth: Math.max(a.depth, b.depth), conditions: a.conditions + b.conditions }), { depth, conditions: 0 });
}

export const SegmentDefinition = SegmentNode.refine((n) => measure(n).depth <= MAX_DEPTH, `at most ${MAX_DEPTH} levels of all/any/not`)
  .refine((n) => measure(n).conditions <= MAX_CONDITIONS, `at most ${MAX_CONDITIONS} conditions`)
  .openapi('SegmentDefinition', {
    description: '`all` / `any` / `not` of event conditions and customer filters.',
    example: { all: [{ event: 'product_view', within_days: 7, count: { gte: 3 } }, { not: { event: 'order_complete', within_days: 30 } }] },
  });

export const DAY_MS = 86_400_000;

/**
 * Where a definition looks further back than D1 keeps events (`days`, D1_EVENT_DAYS): each such
 * field's path, for a 400 that names it. A condition without a window sees the events D1 keeps.
 */
export function beyondWindow(node: SegmentNode, days: number, now: number, path = 'definition'): { path: string; message: string }[] {
  if ('all' in node) return node.all.flatMap((c, i) => beyondWindow(c, days, now, `${path}.all.${i}`));
  if ('any' in node) return node.any.flatMap((c, i) => beyondWindow(c, days, now, `${path}.any.${i}`));
  if ('not' in node) return beyondWindow(node.not, days, now, `${path}.not`);
  if (!('event' in node)) return [];
  const message = `D1 keeps events for ${days} days (D1_EVENT_DAYS); older ones are in the lake`;
  const found: { path: string; message: string }[] = [];
  for (const field of ['within_days', 'last_within_days', 'last_before_days'] as const) {
    const value = node[field];
    if (value !== undefined && value > days) found.push({ path: `${path}.${field}`, message: `${value} days: ${message}` });
  }
  if (node.from && Date.parse(node.from) < now - days * DAY_MS) found.push({ path: `${path}.from`, message: `${node.from}: ${message}` });
  return found;
}
