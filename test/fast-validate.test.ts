import type { z } from '@hono/zod-openapi';
import { describe, expect, it } from 'vitest';
import { FAST_FIELDS, fastCategory, fastContainerFields, fastEventInput, fastOrder, fastProduct, fastSearch } from '../src/events/fast-validate';
import { Category, ContainerFields, ContextInput, EventInput, Order, OrderItem, Page, Product, Search } from '../src/events/schema';
import { wireToInput } from '../src/http/tracker';
import { sampleEvent, toWire } from './bench/sample-event.mjs';

type Fields = Record<string, unknown>;
const isFields = (v: unknown): v is Fields => typeof v === 'object' && v !== null;
const NOW = '2026-11-17T10:00:00.000Z';

// The bench's events, and the tracker's wire form of them mapped as POST /t maps it (after JSON, which drops undefined).
const beaconInput = (e: Fields) => wireToInput(JSON.parse(JSON.stringify(e))) as Fields;
const sample = (i: number) => sampleEvent(i, 's-bench-1', crypto.randomUUID(), NOW);

const SAMPLES = [0, 1, 2, 3].map(sample);
const COMMON: Fields[] = [
  ...SAMPLES,
  ...SAMPLES.map((e) => beaconInput(toWire(e))),
  beaconInput({
    i: crypto.randomUUID(),
    s: crypto.randomUUID(),
    n: 'user_visit',
    t: Date.now(),
    q: 1,
    u: 'https://shop.example/?utm_source=news',
    p: { utm_source: 'news' },
  }),
  beaconInput({
    i: crypto.randomUUID(),
    s: 's-2',
    n: 'container_add',
    t: Date.now(),
    q: 2,
    u: 'https://shop.example/p/1',
    c: { product: { id: 'sku-1', price: 9.5 }, container: 'cart', quantity: 2 },
    cu: 'c-9',
  }),
  // The SDK's (src/sdk/client.ts): no page, a customer, nested contexts, device facts.
  {
    event_id: crypto.randomUUID(),
    session_id: crypto.randomUUID(),
    name: 'order_complete',
    occurred_at: new Date().toISOString(),
    seq: 7,
    customer_id: 'c-1',
    context: { order: { id: 'o-1', total: 19, currency: 'EUR', items: [{ product_id: 123, quantity: 2, price: 9.5 }] } },
  },
  {
    event_id: crypto.randomUUID(),
    session_id: 's-3',
    name: 'search',
    occurred_at: '2026-11-17T11:00:00+01:00',
    seq: 3,
    context: { search: { query: 'mug', results_count: 4 } },
    params: { source: 'bar', page: 1, promo: null, first: true },
    device: { platform: 'ios', app_version: '3.2.1' },
  },
];

const TIMESTAMPS = [
  '2026-11-17T10:00:00Z',
  '2026-11-17T10:00:00.1Z',
  '2026-11-17T10:00:00.123456789Z',
  '2026-11-17T10:00:00+05:30',
  '2026-11-17T10:00:00.5-23:59',
  '2026-11-17T10:00:00+24:00',
  '2026-11-17T10:00:00+01:60',
  '2026-11-17T10:00Z',
  '2026-11-17T10:00:00',
  '2026-11-17 10:00:00Z',
  '2026-11-17t10:00:00z',
  '2026-11-17T10:00:00+0100',
  '2026-11-17T10:00:00.Z',
  '+002026-11-17T10:00:00Z',
  '2024-02-29T00:00:00Z',
  '2000-02-29T00:00:00Z',
  '2026-02-29T00:00:00Z',
  '2100-02-29T00:00:00Z',
  '2026-04-31T00:00:00Z',
  '2026-13-01T00:00:00Z',
  '2026-11-17T24:00:00Z',
  '2026-11-17T10:60:00Z',
  '2026-11-17T10:00:60Z',
  ` ${NOW}`,
];
const EMOJI = '\u{1F600}';
/** Values that probe each check: types, length boundaries (units and code points), NaN, signs, fractions, dates, odd objects. */
const PROBES: unknown[] = [
  undefined,
  null,
  true,
  false,
  0,
  -0,
  1,
  -1,
  0.5,
  1.5,
  2 ** 53 - 1,
  2 ** 53,
  Number.MAX_VALUE,
  NaN,
  Infinity,
  -Infinity,
  'f'.repeat(64),
  'F'.repeat(64),
  '0'.repeat(63),
  '',
  'a',
  'EUR',
  'eu',
  'EURO',
  `${EMOJI}E`,
  '\uD800EU',
  'cart',
  'Cart',
  'has space',
  'sku-1',
  'ü',
  'a.b:c_d-e',
  ...[3, 64, 128, 512, 1024, 2048].flatMap((n) => ['x'.repeat(n), 'x'.repeat(n + 1), EMOJI.repeat(n / 2 + 1), `${'x'.repeat(n - 1)}${EMOJI}`]),
  ...TIMESTAMPS,
  [],
  [1],
  ['a'],
  {},
  { a: 1 },
  { id: 'sku-1' },
  Object.create(null),
  new Date(0),
  JSON.parse('{"__proto__": {"a": 1}}'),
];

/** A copy of `base` with `path` set to `value`, or removed. */
function withValue(base: unknown, path: string, value: unknown, remove = false): unknown {
  const copy = structuredClone(base);
  const keys = path.split('.');
  let target: unknown = copy;
  for (const key of keys.slice(0, -1)) target = isFields(target) ? target[key] : undefined;
  if (!isFields(target)) return copy;
  const last = keys[keys.length - 1]!;
  if (remove) delete target[last];
  else target[last] = value;
  return copy;
}

/** Every input with one path set to each probe (and removed). */
const mutations = (bases: readonly unknown[], paths: readonly string[], probes = PROBES) =>
  bases.flatMap((base) => [base, ...paths.flatMap((p) => [withValue(base, p, undefined, true), ...probes.map((v) => withValue(base, p, v))])]);

const label = (input: unknown) =>
  JSON.stringify(input, (_, v) => (v === undefined ? '(undefined)' : typeof v === 'number' && !Number.isFinite(v) ? String(v) : v))?.slice(0, 300);

/** For each input: when the fast path answers, zod accepts and outputs the same (keys, order, undefined-valued keys). */
function differential(fast: (raw: unknown) => unknown, schema: z.ZodType, inputs: unknown[]) {
  let accepted = 0;
  let zodAccepted = 0;
  for (const input of inputs) {
    const out = fast(input);
    const parsed = schema.safeParse(input);
    if (parsed.success) zodAccepted++;
    if (out === undefined) continue;
    accepted++;
    expect(parsed.success, `zod refuses what the fast path accepts: ${label(input)}`).toBe(true);
    expect(out, label(input)).toStrictEqual(parsed.data);
    expect(JSON.stringify(out), label(input)).toBe(JSON.stringify(parsed.data));
  }
  return { inputs: inputs.length, accepted, zodAccepted };
}

/** The fields a zod object schema declares. */
const shapeKeys = (schema: z.ZodType) => Object.keys((schema as unknown as { shape: Record<string, unknown> }).shape);

describe('the fast validators agree with zod', () => {
  it('each fast twin checks exactly the fields its schema declares: a field added to a schema cannot pass unchecked', () => {
    const schemas = { EventInput, Page, ContextInput, Product, ContainerFields, Category, OrderItem, Order, Search };
    for (const [name, schema] of Object.entries(schemas)) expect([...FAST_FIELDS[name as keyof typeof schemas]], name).toEqual(shapeKeys(schema));
  });

  it('EventInput: the common shapes are taken by the fast path', () => {
    for (const input of COMMON) expect(fastEventInput(input), label(input)).toBeDefined();
    expect(differential(fastEventInput, EventInput, COMMON).accepted).toBe(COMMON.length);
  });

  it('EventInput: every field mutated, nested ones too', () => {
    // Every field of the schemas (so a field added to one is probed), nested ones, and the odd keys.
    const paths = [
      ...shapeKeys(EventInput),
      ...shapeKeys(Page).map((k) => `page.${k}`),
      ...shapeKeys(ContextInput).map((k) => `context.${k}`),
      ...['extra', '__proto__', 'page.extra', 'context.id', 'context.extra', 'device.platform'],
      ...['rating', 'section', 'k'.repeat(64), 'k'.repeat(65), 'constructor'].map((k) => `params.${k}`),
    ];
    const bases = [SAMPLES[1], SAMPLES[3], COMMON[4], COMMON[COMMON.length - 1]];
    const counts = differential(fastEventInput, EventInput, mutations(bases, paths));
    expect(counts.inputs).toBeGreaterThan(5000);
    // Most of what zod takes, the fast path takes too (it declines only the unusual).
    expect(counts.accepted).toBeGreaterThan(counts.zodAccepted * 0.8);
  });

  it('EventInput: limits on params and device', () => {
    const keys = (n: number) => Object.fromEntries(Array.from({ length: n }, (_, i) => [`k${i}`, i]));
    const device = (units: number, char = 'x') => ({ ua: char.repeat(units) });
    const params = [keys(50), keys(51), { a: 'x'.repeat(1024) }, { a: 'x'.repeat(1025) }, { a: NaN }, { a: [1] }, { a: {} }, { a: undefined }, [], 'p'];
    // `{"ua":"…"}` is 9 bytes around the value; '€' is 3 bytes in one unit.
    const devices = [device(2039), device(2040), device(679, '€'), device(680, '€'), device(0, ''), [], 'ios', { nested: { a: [1, 2] } }];
    const inputs = [...params.map((p) => ({ ...SAMPLES[3], params: p })), ...devices.map((d) => ({ ...SAMPLES[0], device: d }))];
    // Taken: 50 keys, a 1024-unit value, 2048 bytes either way, an empty and a nested device.
    expect(differential(fastEventInput, EventInput, inputs).accepted).toBe(6);
  });

  const product = { type: 'product', id: 'sku-1', name: 'Mug', price: 9.5, currency: 'EUR', in_stock: true };
  const order = { id: 'o-1', total: 19, currency: 'EUR', items: [{ product_id: 'sku-1', quantity: 2, price: 9.5 }], coupon: 'X' };
  const orderItems = [[], Array.from({ length: 500 }, () => order.items[0]), Array.from({ length: 501 }, () => order.items[0])];
  it.each([
    ['Product', fastProduct, Product, [product, { id: 12 }, SAMPLES[2]!.context], ['type']],
    ['Category', fastCategory, Category, [{ id: 12, name: 'Mugs', parent_id: null }, { id: 'c-1' }], []],
    ['Order', fastOrder, Order, [order, { id: 7, items: orderItems[1] }], ['items.0', ...shapeKeys(OrderItem).map((k) => `items.0.${k}`), 'items.0.extra']],
    ['Search', fastSearch, Search, [{ query: 'mug', results_count: 4 }, { query: '' }], []],
    ['ContainerFields', fastContainerFields, ContainerFields, [SAMPLES[2]!.context, { container: 'favorites' }], ['type']],
  ] as const)('%s: the sample shapes pass, every field mutated agrees', (_, fast, schema, bases, more) => {
    const paths = [...shapeKeys(schema), 'extra', ...more];
    for (const base of bases) expect(fast(base), label(base)).toBeDefined();
    const extra = schema === Order ? orderItems.map((items) => ({ ...order, items })) : [];
    const counts = differential(fast, schema, [...mutations(bases, paths), ...extra]);
    expect(counts.accepted).toBeGreaterThan(counts.zodAccepted * 0.8);
  });
});
