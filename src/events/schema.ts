import { z } from '@hono/zod-openapi';
import { HASH_PATTERN, ID_PATTERN, LIMITS, NAME_PATTERN } from './limits';

/** The channels an event can arrive through; set by the server. */
export const CHANNELS = ['tracker', 'sdk', 'api'] as const;
export type Channel = (typeof CHANNELS)[number];

export const FLAGS = ['late', 'clock_skew', 'identity_conflict', 'unverified_identity', 'identity_not_linked'] as const;
export type EventFlag = (typeof FLAGS)[number];

const byteLength = (value: unknown) => new TextEncoder().encode(JSON.stringify(value)).byteLength;

export const Identifier = z.string().regex(ID_PATTERN, 'must be 1-128 characters of A-Z a-z 0-9 . _ : -, and not . or ..');
export const EventName = z.string().regex(NAME_PATTERN, 'must be 1-64 characters of a-z 0-9 _ . : -');
export const CustomerId = z.string().min(1).max(128);
export const CustomerHash = z
  .string()
  .regex(HASH_PATTERN, {
    // The timed form's own wording when it was meant (it starts with `t=`).
    error: (issue) =>
      typeof issue.input === 'string' && issue.input.startsWith('t=')
        ? 'must be t=<unix seconds>,h=<96 lowercase hex characters>: HMAC-SHA384 of "<t>.<customer_id>" with the source identity secret'
        : 'must be 64 lowercase hex characters: HMAC-SHA256 of customer_id with the source identity secret (or the timed form t=<unix seconds>,h=<hex>)',
  })
  .openapi({
    description:
      'Proves `customer_id` on the public channels (tracker, SDK), made by the store\'s backend: hex HMAC-SHA256 of it with the source\'s identity secret, or the timed form `t=<unix seconds>,h=<hex HMAC-SHA384 of "<t>.<customer_id>">`, valid from 5 minutes before t to 24 hours after.',
  });
export const Timestamp = z.iso.datetime({ offset: true, message: 'must be an ISO-8601 date-time with a time zone' });

const FlatValue = z.union([z.string().max(1024), z.number(), z.boolean(), z.null()]);
export const Params = z
  .record(z.string().max(64), FlatValue)
  .refine((p) => Object.keys(p).length <= LIMITS.paramsKeys, `at most ${LIMITS.paramsKeys} keys`)
  .openapi({ description: 'Free attributes of the action itself; flat values only.', example: { rating: 2 } });

export const Page = z
  .object({
    url: z.string().max(2048).optional(),
    referrer: z.string().max(2048).nullish(),
    title: z.string().max(512).nullish(),
  })
  .openapi('Page');

export const Device = z
  .looseObject({})
  .refine((d) => byteLength(d) <= LIMITS.deviceBytes, `at most ${LIMITS.deviceBytes} bytes serialized`)
  .openapi({ description: 'User agent, platform, app version...; the server adds what the request tells.' });

/** The product snapshot: `id` required, every other field kept as sent. */
export const Product = z
  .looseObject({
    id: z.string().min(1).max(128).or(z.number().transform(String)),
    name: z.string().optional(),
    price: z.number().optional(),
    currency: z.string().length(3).optional(),
    category_id: z.string().optional(),
    brand: z.string().optional(),
    url: z.string().optional(),
    image_url: z.string().optional(),
    in_stock: z.boolean().optional(),
  })
  .openapi('Product');

export const Category = z
  .looseObject({ id: z.string().min(1).max(128).or(z.number().transform(String)), name: z.string().optional(), parent_id: z.string().nullish() })
  .openapi('Category');

export const OrderItem = z.looseObject({
  product_id: z.string().min(1).max(128).or(z.number().transform(String)),
  quantity: z.number().positive(),
  price: z.number().optional(),
});

export const Order = z
  .looseObject({
    id: z.string().min(1).max(128).or(z.number().transform(String)),
    total: z.number().optional(),
    currency: z.string().length(3).optional(),
    items: z.array(OrderItem).max(500).optional(),
  })
  .openapi('Order');

export const Search = z.looseObject({ query: z.string().max(1024), results_count: z.number().int().nonnegative().optional() }).openapi('Search');

export const ContainerFields = z.object({
  container: z.string().regex(NAME_PATTERN, 'must be a container name such as cart, favorites, waitlist'),
  quantity: z.number().positive().default(1),
});

/**
 * A context as clients send it: either the canonical `{type, ...fields}` snapshot or the nested
 * form the tracker writes (`{product: {...}, container, quantity}`); see `normalizeContext`.
 */
export const ContextInput = z.looseObject({ type: z.string().regex(NAME_PATTERN).optional() }).openapi('Context', {
  description:
    'A static snapshot of the object the event concerns: `{type: "product" | "category" | "order" | "cart" | "search" | "page" | <custom>, ...fields}`; the nested form `{product: {...}}` is accepted too. At most 16 KB serialized.',
  example: { type: 'product', id: 'sku-1', name: 'Mug', price: 9.5, currency: 'EUR' },
});

/** One event as a client sends it, on any channel. */
export const EventInput = z
  .object({
    event_id: Identifier.optional().openapi({ description: 'Client-made UUID for idempotency; made by the server when absent.' }),
    session_id: Identifier,
    customer_id: CustomerId.nullish(),
    customer_hash: CustomerHash.nullish(),
    name: EventName,
    occurred_at: Timestamp,
    seq: z.number().int().nonnegative().nullish(),
    context: ContextInput.nullish(),
    params: Params.nullish(),
    page: Page.nullish(),
    device: Device.nullish(),
  })
  .openapi('EventInput');
export type EventInput = z.input<typeof EventInput>;

/** The web event: the same object whichever channel it came through (docs/design.md §1). */
export const WebEvent = z
  .object({
    event_id: z.string(),
    source_id: z.string(),
    channel: z.enum(CHANNELS),
    session_id: z.string(),
    customer_id: z.string().nullable(),
    claimed_customer_id: z
      .string()
      .nullable()
      .openapi({ description: 'A customer named on a public channel without a valid customer_hash: kept, never attributed (flag unverified_identity)' }),
    name: z.string(),
    occurred_at: z.string(),
    received_at: z.string(),
    seq: z.number().int().nullable(),
    context: z.looseObject({ type: z.string() }).nullable(),
    params: z.record(z.string(), FlatValue).nullable(),
    page: Page.nullable(),
    device: z.looseObject({}).nullable(),
    geo: z.looseObject({}).nullable(),
    flags: z.array(z.enum(FLAGS)),
  })
  .openapi('WebEvent');
export type WebEvent = z.infer<typeof WebEvent>;

/** Which field, and why: the detail of every refusal, of one event or of a whole request. */
export const ErrorDetail = z.object({ path: z.string(), message: z.string() }).openapi('ErrorDetail');
export type ErrorDetail = z.infer<typeof ErrorDetail>;

/** Why one event was refused. */
export const FieldError = z.object({ code: z.string(), message: z.string(), details: z.array(ErrorDetail) }).openapi('EventError');
export type FieldError = z.infer<typeof FieldError>;
