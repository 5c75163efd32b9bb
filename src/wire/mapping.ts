import { sha256Hex } from '../encoding';
import { ID_PATTERN, LIMITS, NAME_PATTERN } from '../events/limits';

/**
 * What Segment's, Snowplow's and PostHog's messages have in common on their way to the one event
 * input (docs/wire.md): names, ids, times, and which properties are the object's snapshot.
 */

/**
 * Visitors: an anonymous id (`a:`, a device) and a customer's id (`c:`) never share an object, so
 * no id sent as one can reach the other's sessions.
 */
export const anonymousVisitor = (id: string) => `a:${id}`;
export const customerVisitor = (id: string) => `c:${id}`;

/** A login or registration needs its customer (docs/design.md): without one, it is the custom event it was sent as. */
export function withoutCustomer(name: string, sent: string, customer: string | null | undefined): string {
  return customer || (name !== 'user_login' && name !== 'user_registration') ? name : customName(sent);
}

/** A message of another protocol as our event input, before its session is known. */
export interface WireEvent {
  /** The message's place in its request, for the per-message results. */
  index: number;
  /** The visitor the collector makes sessions for when the message names none (anonymous id, else user id). */
  visitor: string | null;
  /** The session the message names itself, if any (Segment `context.sessionId`, Snowplow `sid`, PostHog `$session_id`). */
  sessionId: string | null;
  /** The event input (docs/api.md), `session_id` filled in once the session is known. */
  input: Record<string, unknown>;
}

/** A message refused before it became an event: which field, and why. */
export interface WireRefusal {
  index: number;
  messageId: string | null;
  path: string;
  message: string;
}

export type Mapped = WireEvent | WireRefusal;
export const isRefusal = (m: Mapped): m is WireRefusal => 'path' in m;

/**
 * The e-commerce names of Segment's spec (and the same actions in Snowplow's and PostHog's
 * usage), lower-cased, to our preconfigured events.
 */
const SPEC_NAMES: Record<string, string> = {
  'product viewed': 'product_view',
  'product clicked': 'product_click',
  'product added': 'container_add',
  'product removed': 'container_remove',
  'product added to wishlist': 'container_add',
  'product removed from wishlist': 'container_remove',
  'products searched': 'search',
  'product list viewed': 'category_view',
  'product category viewed': 'category_view',
  'order completed': 'order_complete',
  'signed in': 'user_login',
  'signed up': 'user_registration',
  // posthog-js and Snowplow's own names for the same actions
  $pageview: 'page_view',
  $screen: 'screen_view',
  $identify: 'identify',
  $create_alias: 'alias',
  add_to_cart: 'container_add',
  remove_from_cart: 'container_remove',
  transaction: 'order_complete',
};

/** Which container a spec's cart or wishlist event is about. */
const CONTAINERS: Record<string, string> = {
  'product added': 'cart',
  'product removed': 'cart',
  'product added to wishlist': 'wishlist',
  'product removed from wishlist': 'wishlist',
  add_to_cart: 'cart',
  remove_from_cart: 'cart',
};

/**
 * Our event name for another protocol's: a spec name maps to ours; any other is lower-cased,
 * each run of other characters becomes `_`, cut to 64 (`Low Rating Given` → `low_rating_given`).
 */
export function eventName(sent: string): { name: string; container?: string } {
  const key = sent.trim().toLowerCase();
  const spec = Object.hasOwn(SPEC_NAMES, key) ? SPEC_NAMES[key] : undefined;
  if (spec) return { name: spec, ...(Object.hasOwn(CONTAINERS, key) ? { container: CONTAINERS[key] } : {}) };
  return { name: customName(key) };
}

/** Any name as a custom event's: lower-cased, each run of other characters `_`, cut to 64. */
function customName(sent: string): string {
  const name = sent
    .trim()
    .toLowerCase()
    .replace(/[^a-z0-9_.:-]+/g, '_')
    .replace(/^_+|_+$/g, '')
    .slice(0, 64);
  return NAME_PATTERN.test(name) ? name : 'custom_event';
}

/**
 * An id of ours from another protocol's (`messageId`, `eid`, `uuid`): kept when it fits our
 * alphabet, else a stable hash of it, so a client's retry is still a duplicate.
 */
export async function stableId(id: unknown): Promise<string | undefined> {
  if (typeof id !== 'string' && typeof id !== 'number') return undefined;
  const text = String(id);
  if (ID_PATTERN.test(text)) return text;
  return `h-${(await sha256Hex(text)).slice(0, 40)}`;
}

/**
 * When the action happened, corrected for the device's clock: `receivedAt − (sentAt − timestamp)`
 * when the client says when it sent (Segment's and PostHog's rule; Snowplow's `stm` and `dtm`).
 * A time that cannot be read goes on as sent, for the event schema to refuse by name.
 */
export function occurredAt(timestamp: unknown, sentAt: unknown, receivedAt: number): unknown {
  const t = toMs(timestamp);
  if (t === null) return timestamp ?? new Date(receivedAt).toISOString();
  const sent = toMs(sentAt);
  const ms = sent === null ? t : receivedAt - (sent - t);
  // Outside what a date can hold: as sent, for the event schema to refuse by name.
  return Math.abs(ms) <= 8.64e15 ? new Date(ms).toISOString() : timestamp;
}

function toMs(value: unknown): number | null {
  if (typeof value === 'number' && Number.isFinite(value)) return value;
  if (typeof value !== 'string' || !value) return null;
  const ms = /^\d+$/.test(value) ? Number(value) : Date.parse(value);
  return Number.isFinite(ms) ? ms : null;
}

export const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const text = (v: unknown) => (typeof v === 'string' && v ? v : typeof v === 'number' ? String(v) : undefined);
const num = (v: unknown) => (typeof v === 'number' ? v : typeof v === 'string' && v.trim() && Number.isFinite(Number(v)) ? Number(v) : undefined);
const defined = (o: Record<string, unknown>) => Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined));

/** A product snapshot from the spec's product properties (`product_id` or `sku` or `id`). */
function product(p: Record<string, unknown>) {
  return defined({
    id: text(p.product_id) ?? text(p.sku) ?? text(p.id),
    sku: text(p.sku),
    name: text(p.name),
    price: num(p.price) ?? num(p.unitPrice),
    currency: typeof p.currency === 'string' ? p.currency.toUpperCase() : undefined,
    category_id: text(p.category_id) ?? text(p.category),
    brand: text(p.brand),
    variant: text(p.variant),
    url: text(p.url),
    image_url: text(p.image_url),
  });
}

/** The properties that describe the object an event concerns, as its context; the rest are its params. */
export function splitProperties(name: string, container: string | undefined, props: Record<string, unknown>) {
  switch (name) {
    case 'product_view':
    case 'product_click':
      return { context: { product: product(props) }, rest: omit(props, PRODUCT_KEYS) };
    case 'container_add':
    case 'container_remove':
      return {
        context: { product: product(props), container: container ?? text(props.container) ?? 'cart', quantity: num(props.quantity) ?? 1 },
        rest: omit(props, [...PRODUCT_KEYS, 'quantity', 'container', 'cart_id']),
      };
    case 'search':
      return { context: { search: defined({ query: text(props.query) ?? '', results_count: num(props.results_count) }) }, rest: omit(props, ['query']) };
    case 'category_view': {
      const id = text(props.category_id) ?? text(props.category) ?? text(props.list_id);
      return { context: { category: defined({ id, name: text(props.category) }) }, rest: omit(props, ['category', 'category_id', 'list_id', 'products']) };
    }
    case 'order_complete': {
      const items = Array.isArray(props.products)
        ? props.products.filter(isObject).map((p) => defined({ ...product(p), product_id: product(p).id, id: undefined, quantity: num(p.quantity) ?? 1 }))
        : undefined;
      const order = defined({
        id: text(props.order_id) ?? text(props.checkout_id) ?? text(props.id),
        total: num(props.total) ?? num(props.revenue),
        currency: typeof props.currency === 'string' ? props.currency.toUpperCase() : undefined,
        items,
        shipping: num(props.shipping),
        tax: num(props.tax),
        discount: num(props.discount),
        coupon: text(props.coupon),
      });
      return { context: { order }, rest: omit(props, ORDER_KEYS) };
    }
    default:
      return { context: undefined, rest: props };
  }
}

/** The spec's product properties: the snapshot's (the rest of a product event's properties are its params). */
const PRODUCT_KEYS = ['product_id', 'sku', 'id', 'name', 'price', 'unitPrice', 'currency', 'category', 'category_id', 'brand', 'variant', 'url', 'image_url'];
const ORDER_KEYS = ['order_id', 'checkout_id', 'id', 'total', 'revenue', 'currency', 'products', 'shipping', 'tax', 'discount', 'coupon', 'affiliation'];
const omit = (o: Record<string, unknown>, keys: readonly string[]) => Object.fromEntries(Object.entries(o).filter(([k]) => !keys.includes(k)));

/**
 * Params from the properties left over: flat values as they are, anything nested as its JSON
 * (cut to 1,024 characters), at most LIMITS.paramsKeys keys (the rest are dropped, and counted in
 * `params_dropped`). The name as sent is kept when ours differs.
 */
export function paramsOf(rest: Record<string, unknown>, sentName: string | null, name: string): Record<string, unknown> | undefined {
  const params: Record<string, unknown> = {};
  if (sentName !== null && sentName !== name) params.original_name = sentName.slice(0, 1024);
  let dropped = 0;
  for (const [key, value] of Object.entries(rest)) {
    if (value === undefined) continue;
    if (Object.keys(params).length >= LIMITS.paramsKeys - 1 || key.length > 64) {
      dropped += 1;
      continue;
    }
    params[key] =
      value === null || typeof value === 'number' || typeof value === 'boolean'
        ? value
        : (typeof value === 'string' ? value : JSON.stringify(value)).slice(0, 1024);
  }
  if (dropped) params.params_dropped = dropped;
  return Object.keys(params).length ? params : undefined;
}

/** A page from a URL and its referrer and title, when there is a URL. */
export function pageOf(url: unknown, referrer: unknown, title: unknown) {
  const u = text(url);
  return u ? defined({ url: u.slice(0, 2048), referrer: text(referrer)?.slice(0, 2048), title: text(title)?.slice(0, 512) }) : undefined;
}

export { defined, num, text };
