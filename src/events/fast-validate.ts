import { z } from '@hono/zod-openapi';
import { HASH_PATTERN, ID_PATTERN, LIMITS, NAME_PATTERN } from './limits';
import type { EventInput } from './schema';

/*
 * Hand-written twins of the zod schemas in schema.ts, for the ingest hot path. Each returns what
 * `safeParse(raw).data` would (same keys in the same order, same transforms) for input it is sure
 * zod accepts, and `undefined` for anything else: the caller then runs zod, which says what is
 * wrong. Declining is always safe; accepting what zod refuses is the bug this module must not
 * have (test/fast-validate.test.ts holds it against zod).
 */

type Fields = Record<string, unknown>;
/** What `EventInput.safeParse(raw).data` holds. */
export type EventData = z.output<typeof EventInput>;
/** A schema's fast twin: zod's output, or `undefined` to let zod decide. */
export type FastValidator = (raw: unknown) => Fields | undefined;

/** A field's parser: the value zod would output, or NO to decline. */
const NO: unique symbol = Symbol('declined');
type Parse = (v: unknown) => unknown;
type Field = readonly [key: string, parse: Parse, optional?: 'optional'];

/** Whether a string is over `limit` bytes as UTF-8; encodes only when it could be (a UTF-16 unit is at most 3 bytes). */
export const overBytes = (text: string, limit: number) => text.length * 3 > limit && new TextEncoder().encode(text).byteLength > limit;

// zod's own pattern for `z.iso.datetime({ offset: true })`: seconds required, real calendar days, offsets up to ±23:59.
const DATETIME = z.regexes.datetime({ offset: true, local: false, precision: null });
const PAIRED_SURROGATES = /[\uD800-\uDBFF][\uDC00-\uDFFF]/;

// Only JSON's kind of object: zod takes others too, but reads them in ways not worth mirroring.
const isFields = (v: unknown): v is Fields => typeof v === 'object' && v !== null && Object.getPrototypeOf(v) === Object.prototype;
const isNumber = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);
const isId = (v: unknown): v is string => typeof v === 'string' && ID_PATTERN.test(v);
const isName = (v: unknown): v is string => typeof v === 'string' && NAME_PATTERN.test(v);

const check =
  (ok: (v: unknown) => boolean): Parse =>
  (v) =>
    ok(v) ? v : NO;
const orNull =
  (parse: Parse): Parse =>
  (v) =>
    v === null ? v : parse(v);

// zod measures strings in code points: within `max` UTF-16 units a string always fits; beyond, we decline.
const isText = (v: unknown, max: number): v is string => typeof v === 'string' && v.length <= max;
const text = (max = Infinity) => check((v) => isText(v, max));
// `.length(3)`: three units are three code points unless two of them pair.
const currency = check((v) => typeof v === 'string' && v.length === 3 && !PAIRED_SURROGATES.test(v));
const number = check(isNumber);
const positive = check((v) => isNumber(v) && v > 0);
// `.int()` is zod's safe integer.
const count = check((v) => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0);
/** `z.string().min(1).max(128).or(z.number().transform(String))` */
const objectId: Parse = (v) => (typeof v === 'string' ? (v.length >= 1 && v.length <= 128 ? v : NO) : isNumber(v) ? String(v) : NO);
const flatValue = check((v) => v === null || typeof v === 'boolean' || isNumber(v) || (typeof v === 'string' && v.length <= 1024));

/** Copies the keys a `z.looseObject` keeps unchecked, after its declared ones (zod's order). */
function passThrough(raw: Fields, declared: ReadonlySet<string>, out: Fields): Fields | typeof NO {
  for (const key in raw) {
    // zod skips it rather than set the result's prototype; rare enough to leave to zod.
    if (key === '__proto__') return NO;
    if (!declared.has(key)) out[key] = raw[key];
  }
  return out;
}

/**
 * `z.object` (strips unknown keys) or `z.looseObject` (keeps them) over the given fields. The
 * schemas every event meets are written out below instead: named reads, no call per field.
 */
function object(fields: readonly Field[], mode: 'strip' | 'loose') {
  const declared = new Set(fields.map(([key]) => key));
  // Parallel arrays: the loop runs per field of every event.
  const keys = fields.map(([key]) => key);
  const parsers = fields.map(([, parse]) => parse);
  const optional = fields.map(([, , opt]) => opt === 'optional');
  return (raw: unknown): Fields | typeof NO => {
    if (!isFields(raw)) return NO;
    const out: Fields = {};
    for (let i = 0; i < keys.length; i++) {
      const key = keys[i]!;
      const v = raw[key];
      if (v === undefined && optional[i]) {
        // An absent optional key stays absent; a present `undefined` stays present.
        if (key in raw) out[key] = undefined;
        continue;
      }
      const parsed = parsers[i]!(v);
      if (parsed === NO) return NO;
      out[key] = parsed;
    }
    return mode === 'loose' ? passThrough(raw, declared, out) : out;
  };
}

const array =
  (element: Parse, max: number): Parse =>
  (v) => {
    if (!Array.isArray(v) || v.length > max) return NO;
    const out: unknown[] = new Array(v.length);
    for (let i = 0; i < v.length; i++) if ((out[i] = element(v[i])) === NO) return NO;
    return out;
  };

/** `Params`: a flat record of at most LIMITS.paramsKeys keys of at most 64 units. */
const params: Parse = (v) => {
  if (!isFields(v) || Object.getOwnPropertySymbols(v).length) return NO;
  const out: Fields = {};
  let keys = 0;
  for (const key in v) {
    if (key.length > 64 || key === '__proto__' || ++keys > LIMITS.paramsKeys) return NO;
    if ((out[key] = flatValue(v[key])) === NO) return NO;
  }
  return out;
};

const NOTHING_DECLARED: ReadonlySet<string> = new Set();

/** `Device`: any object, at most LIMITS.deviceBytes serialized. */
const device: Parse = (v) => {
  if (!isFields(v)) return NO;
  const out = passThrough(v, NOTHING_DECLARED, {});
  return out !== NO && !overBytes(JSON.stringify(out), LIMITS.deviceBytes) ? out : NO;
};

/** `Page`, a `z.object`: unknown keys dropped. */
function page(v: unknown): Fields | typeof NO {
  if (!isFields(v)) return NO;
  const { url, referrer, title } = v;
  if ((url !== undefined && !isText(url, 2048)) || (referrer != null && !isText(referrer, 2048)) || (title != null && !isText(title, 512))) return NO;
  // Optional keys as zod keeps them: absent stays absent, a present `undefined` stays present.
  const out: Fields = {};
  if (url !== undefined || 'url' in v) out.url = url;
  if (referrer !== undefined || 'referrer' in v) out.referrer = referrer;
  if (title !== undefined || 'title' in v) out.title = title;
  return out;
}

/** `ContextInput`: an optional `type`, every other key kept. */
function context(v: unknown): Fields | typeof NO {
  if (!isFields(v)) return NO;
  const type = v.type;
  if (type !== undefined && !isName(type)) return NO;
  const out: Fields = {};
  if (type !== undefined || 'type' in v) out.type = type;
  return passThrough(v, TYPE_DECLARED, out);
}
const TYPE_DECLARED: ReadonlySet<string> = new Set(['type']);

/** The fast twin of `EventInput`. */
export function fastEventInput(raw: unknown): EventData | undefined {
  if (!isFields(raw)) return undefined;
  const { event_id, session_id, customer_id, customer_hash, name, occurred_at, seq } = raw;
  if (!isId(session_id) || !isName(name) || typeof occurred_at !== 'string' || !DATETIME.test(occurred_at)) return undefined;
  if (event_id !== undefined && !isId(event_id)) return undefined;
  if (customer_id != null && !(typeof customer_id === 'string' && customer_id.length >= 1 && customer_id.length <= 128)) return undefined;
  if (customer_hash != null && !(typeof customer_hash === 'string' && HASH_PATTERN.test(customer_hash))) return undefined;
  if (seq != null && count(seq) === NO) return undefined;
  const ctx = raw.context == null ? raw.context : context(raw.context);
  const prm = raw.params == null ? raw.params : params(raw.params);
  const pg = raw.page == null ? raw.page : page(raw.page);
  const dev = raw.device == null ? raw.device : device(raw.device);
  if (ctx === NO || prm === NO || pg === NO || dev === NO) return undefined;

  // zod's output: the declared keys in order, optional ones only when present.
  const out: Fields = {};
  if (event_id !== undefined || 'event_id' in raw) out.event_id = event_id;
  out.session_id = session_id;
  if (customer_id !== undefined || 'customer_id' in raw) out.customer_id = customer_id;
  if (customer_hash !== undefined || 'customer_hash' in raw) out.customer_hash = customer_hash;
  out.name = name;
  out.occurred_at = occurred_at;
  if (seq !== undefined || 'seq' in raw) out.seq = seq;
  if (ctx !== undefined || 'context' in raw) out.context = ctx;
  if (prm !== undefined || 'params' in raw) out.params = prm;
  if (pg !== undefined || 'page' in raw) out.page = pg;
  if (dev !== undefined || 'device' in raw) out.device = dev;
  // Checked field by field above, and against zod's own output in the differential test.
  return out as EventData;
}

// The snapshots: Product and ContainerFields written out (most events carry one), the rarer ones declared.
const absentOr = (v: unknown, type: 'string' | 'boolean') => v === undefined || typeof v === type;
const PRODUCT_FIELDS = ['id', 'name', 'price', 'currency', 'category_id', 'brand', 'url', 'image_url', 'in_stock'] as const;
const PRODUCT_DECLARED: ReadonlySet<string> = new Set(PRODUCT_FIELDS);

/** `Product` */
function product(v: unknown): Fields | typeof NO {
  if (!isFields(v)) return NO;
  const id = objectId(v.id);
  const { name, price, currency: cur, category_id, brand, url, image_url, in_stock } = v;
  if (id === NO || (price !== undefined && !isNumber(price)) || (cur !== undefined && currency(cur) === NO)) return NO;
  if (!absentOr(in_stock, 'boolean') || !absentOr(name, 'string') || !absentOr(category_id, 'string') || !absentOr(brand, 'string')) return NO;
  if (!absentOr(url, 'string') || !absentOr(image_url, 'string')) return NO;
  const out: Fields = { id };
  if (name !== undefined || 'name' in v) out.name = name;
  if (price !== undefined || 'price' in v) out.price = price;
  if (cur !== undefined || 'currency' in v) out.currency = cur;
  if (category_id !== undefined || 'category_id' in v) out.category_id = category_id;
  if (brand !== undefined || 'brand' in v) out.brand = brand;
  if (url !== undefined || 'url' in v) out.url = url;
  if (image_url !== undefined || 'image_url' in v) out.image_url = image_url;
  if (in_stock !== undefined || 'in_stock' in v) out.in_stock = in_stock;
  return passThrough(v, PRODUCT_DECLARED, out);
}

/** `ContainerFields`, a `z.object`; `.default(1)` fills a missing or undefined quantity unchecked. */
function containerFields(v: unknown): Fields | typeof NO {
  if (!isFields(v) || !isName(v.container)) return NO;
  const quantity = v.quantity === undefined ? 1 : positive(v.quantity);
  return quantity === NO ? NO : { container: v.container, quantity };
}

const CATEGORY: readonly Field[] = [
  ['id', objectId],
  ['name', text(), 'optional'],
  ['parent_id', orNull(text()), 'optional'],
];
const ORDER_ITEM: readonly Field[] = [
  ['product_id', objectId],
  ['quantity', positive],
  ['price', number, 'optional'],
];
const orderItem = object(ORDER_ITEM, 'loose');
const ORDER: readonly Field[] = [
  ['id', objectId],
  ['total', number, 'optional'],
  ['currency', currency, 'optional'],
  ['items', array(orderItem, 500), 'optional'],
];
const SEARCH: readonly Field[] = [
  ['query', text(1024)],
  ['results_count', count, 'optional'],
];

const keys = (fields: readonly Field[]) => fields.map(([key]) => key);

/**
 * The fields each fast twin checks, by the zod schema it mirrors. A field added to a schema and
 * not here would pass the fast path unchecked: test/fast-validate.test.ts holds these equal to
 * the schemas' shapes, and probes every field of those shapes.
 */
export const FAST_FIELDS = {
  EventInput: ['event_id', 'session_id', 'customer_id', 'customer_hash', 'name', 'occurred_at', 'seq', 'context', 'params', 'page', 'device'],
  Page: ['url', 'referrer', 'title'],
  ContextInput: [...TYPE_DECLARED],
  Product: PRODUCT_FIELDS,
  ContainerFields: ['container', 'quantity'],
  Category: keys(CATEGORY),
  OrderItem: keys(ORDER_ITEM),
  Order: keys(ORDER),
  Search: keys(SEARCH),
} as const satisfies Record<string, readonly string[]>;

const category = object(CATEGORY, 'loose');
const order = object(ORDER, 'loose');
const search = object(SEARCH, 'loose');

const fast =
  (parse: (v: unknown) => Fields | typeof NO): FastValidator =>
  (raw) => {
    const out = parse(raw);
    return out === NO ? undefined : out;
  };

export const fastProduct = fast(product);
export const fastCategory = fast(category);
export const fastOrder = fast(order);
export const fastSearch = fast(search);
export const fastContainerFields = fast(containerFields);
