/**
 * Property-based test (fast-check) of every ingest route and of the admin and segment bodies.
 *
 * Over 10,000 generated inputs per run (a batch counts its events): well-formed ones, mutated
 * ones (a field removed or replaced by a value of another type, strings at their length limits,
 * unicode, numbers at their extremes) and hostile ones (very long strings, deep nesting,
 * `__proto__`/`constructor` keys, dates out of range, arrays for objects, non-JSON and empty
 * bodies). For every response:
 *
 * - never a 5xx;
 * - a 4xx body is exactly `{"error": {"code", "message", "details"?: [{"path", "message"}]}}`;
 * - a batch route's 2xx body is `{"results": [...]}`, one `{event_id, status, error?}` per event;
 * - a well-formed event is accepted (or answered duplicate);
 * - every accepted event is then in the live session read and, after the session's alarm, in D1,
 *   and nothing else is (the sessions hold exactly what was accepted).
 *
 * The session objects keep their state across runs, so a failing run's shrunk counterexample is
 * the smallest input that fails *after* the runs before it. fast-check prints the seed and the
 * path on failure: pass them to the `fc.assert` options (`{ seed, path }`) to replay it.
 */
import { env } from 'cloudflare:workers';
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { EVENTS_WITH_SESSION } from '../src/storage/records';
import { shards } from '../src/storage/shards';
import { ADMIN_TOKEN, type CreatedSource, call, createSource, unique } from './fixtures/api';
import { d1Session, runAlarmOf, sessionStub } from './fixtures/sessions';

// ---------------------------------------------------------------------------------------------
// Runs. Inputs per run: a batch counts its events, every other body counts one.

const RUNS = { rest: 170, sdk: 160, tracker: 170, admin: 450, segments: 450 };
const MIN_INPUTS = 10_000;
/** Events in one generated batch at most (the routes take 500). */
const BATCH_MAX = 60;

const ORIGIN = 'https://shop.example';
const CHROME = 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36';
const BOT = 'Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)';
const DAY = 86_400_000;

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

/** A failed expectation with what was sent and answered (fast-check adds the input). */
class Broken extends Error {}
function must(ok: unknown, what: string, context: { status?: number; text?: string; sent?: string } = {}): asserts ok {
  if (ok) return;
  const cut = (s: string | undefined) => (s === undefined ? '' : s.length > 600 ? `${s.slice(0, 600)}… (${s.length} chars)` : s);
  throw new Broken(`${what}\n  status: ${context.status ?? '-'}\n  response: ${cut(context.text)}\n  sent: ${cut(context.sent)}`);
}

// ---------------------------------------------------------------------------------------------
// Values that are only built when serialized, so counterexamples print short.

class Lazy {
  constructor(
    readonly label: string,
    readonly make: () => unknown,
  ) {}
  toJSON(): unknown {
    return this.make();
  }
  [fc.toStringMethod](): string {
    return this.label;
  }
}

function nest(kind: 'object' | 'array' | 'mixed', depth: number, leaf: unknown = 1): unknown {
  let v = leaf;
  for (let d = 0; d < depth; d++) v = kind === 'array' || (kind === 'mixed' && d % 2 === 1) ? [v] : { a: v };
  return v;
}
const deep = (kind: 'object' | 'array' | 'mixed', depth: number, leaf: unknown = 1) => new Lazy(`nest(${kind}, ${depth})`, () => nest(kind, depth, leaf));
const long = (unit: string, n: number) => new Lazy(`${JSON.stringify(unit)}.repeat(${n})`, () => unit.repeat(n));

/** Placeholders resolved at send time: a replay of an accepted event, a copy of an earlier item, a customer hash. */
class Marker {
  constructor(
    readonly kind: 'replay' | 'dup' | 'sign' | 'unique',
    readonly n = 0,
  ) {}
  [fc.toStringMethod](): string {
    return `<${this.kind} ${this.n}>`;
  }
}

/** Sets an own enumerable property, `__proto__` included (a literal would set the prototype). */
function withKey<T extends object>(obj: T, key: string, value: unknown): T {
  Object.defineProperty(obj, key, { value, enumerable: true, writable: true, configurable: true });
  return obj;
}

const REMOVE = new (class Remove {
  [fc.toStringMethod]() {
    return '<remove>';
  }
})();

/** A copy of `root` with the value at `path` (dot-separated) replaced or removed. */
function setPath(root: unknown, path: readonly string[], value: unknown): unknown {
  const [head, ...rest] = path;
  if (head === undefined) return value;
  const base: Obj = isObj(root) && !(root instanceof Lazy) && !(root instanceof Marker) ? { ...root } : {};
  if (rest.length === 0) {
    if (value === REMOVE) delete base[head];
    else withKey(base, head, value);
  } else {
    withKey(base, head, setPath(Object.hasOwn(base, head) ? base[head] : undefined, rest, value));
  }
  return base;
}

interface Mutation {
  path: string;
  value: unknown;
}
const applyMutations = (value: unknown, mutations: readonly Mutation[]) => mutations.reduce((v, m) => setPath(v, m.path.split('.'), m.value), value);

// ---------------------------------------------------------------------------------------------
// Generic hostile values.

const EXTREME_NUMBERS = [
  1e308,
  -1e308,
  1.7976931348623157e308,
  -0,
  0,
  2 ** 53,
  2 ** 53 + 2,
  -(2 ** 53),
  Number.MAX_SAFE_INTEGER,
  Number.MIN_SAFE_INTEGER,
  5e-324,
  -5e-324,
  0.5,
  -1,
  1e20,
  -1e20,
  8.64e15,
  8.64e15 + 1,
  -8.64e15,
  -8.64e15 - 1,
  2 ** 31,
  2 ** 32,
  1e-7,
];
const ODD_DATES = [
  '1900-01-01T00:00:00Z',
  '0000-01-01T00:00:00Z',
  '0000-02-29T00:00:00+23:59',
  '9999-12-31T23:59:59Z',
  '9999-12-31T23:59:59.999999999-23:59',
  '1969-12-31T23:59:59.999Z',
  '1970-01-01T00:00:00Z',
  '2024-02-30T00:00:00Z',
  '2023-02-29T00:00:00Z',
  '2024-01-01',
  '2024-01-01T00:00:00',
  '2024-01-01T24:00:00Z',
  '2024-01-01T23:59:60Z',
  '+275760-09-13T00:00:00.000Z',
  '-271821-04-20T00:00:00.000Z',
  '2024-01-01T00:00:00+24:00',
  '2024-01-01T00:00:00.+01:00',
  '2024-01-01 00:00:00Z',
  '2024-01-01T00:00:00.123456789012345678901234567890Z',
  'yesterday',
  '',
  'T',
  'Z',
];
const UNICODE_BITS = [
  '\uD800',
  '\uDFFF',
  '\uDBFF\uDFFF',
  '😀',
  'é',
  'e\u0301',
  '\u0000',
  '\u202E',
  '\uFEFF',
  '\u200B',
  'ß',
  'İ',
  '\u{10FFFF}',
  '\n\r\t',
  '"\\',
  '𝕏',
  'Ω',
  '\u0085',
];

const unicodeString = fc.oneof(
  fc.string({ unit: 'grapheme', maxLength: 24 }),
  fc.string({ unit: 'binary', maxLength: 24 }),
  fc.array(fc.constantFrom(...UNICODE_BITS), { minLength: 1, maxLength: 12 }).map((xs) => xs.join('')),
);
const LIMIT_LENGTHS = [0, 1, 2, 3, 4, 63, 64, 65, 127, 128, 129, 511, 512, 513, 1023, 1024, 1025, 2047, 2048, 2049, 16_384, 16_385];
const boundaryString = fc
  .tuple(fc.constantFrom(...LIMIT_LENGTHS), fc.constantFrom('a', 'Z', '-', '.', 'é', '😀', '\uD800', ' ', '0'))
  .map(([n, unit]) => (n > 200 ? long(unit, n) : unit.repeat(n)));
const deepValue = fc
  .tuple(fc.constantFrom('object' as const, 'array' as const, 'mixed' as const), fc.integer({ min: 50, max: 5000 }))
  .map(([kind, depth]) => deep(kind, depth));
const longString = fc.tuple(fc.constantFrom('x', 'é', '😀', '\uD800'), fc.integer({ min: 20_000, max: 300_000 })).map(([u, n]) => long(u, n));
const protoObject = fc
  .constantFrom(
    () => withKey({ a: 1 }, '__proto__', { polluted: true }),
    () => ({ constructor: { prototype: { polluted: true } } }),
    () => withKey({}, '__proto__', null),
    () => ({ toString: 1, valueOf: 'x', hasOwnProperty: null }),
  )
  .map((make) => make());

const hostileValue: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom(...EXTREME_NUMBERS) },
  { weight: 1, arbitrary: fc.double({ noNaN: true, noDefaultInfinity: true }) },
  { weight: 2, arbitrary: fc.constantFrom(null, true, false, '', [], {}) },
  { weight: 2, arbitrary: fc.constantFrom(...ODD_DATES) },
  { weight: 3, arbitrary: unicodeString },
  { weight: 3, arbitrary: boundaryString },
  { weight: 1, arbitrary: deepValue },
  { weight: 1, arbitrary: longString },
  { weight: 1, arbitrary: protoObject },
  { weight: 2, arbitrary: fc.array(fc.jsonValue({ maxDepth: 2 }), { maxLength: 4 }) },
  { weight: 2, arbitrary: fc.jsonValue({ maxDepth: 3 }) },
);

function mutationArb(paths: readonly string[], specific: Record<string, fc.Arbitrary<unknown>>): fc.Arbitrary<Mutation> {
  return fc.constantFrom(...paths).chain((path) => {
    const own = Object.hasOwn(specific, path) ? specific[path] : undefined;
    const choices: fc.WeightedArbitrary<unknown>[] = [
      { weight: 1, arbitrary: fc.constant<unknown>(REMOVE) },
      { weight: 2, arbitrary: hostileValue },
      ...(own ? [{ weight: 3, arbitrary: own }] : []),
    ];
    return fc.oneof(...choices).map((value) => ({ path, value }));
  });
}

// ---------------------------------------------------------------------------------------------
// Well-formed events.

const SESSION_POOL = [
  ...Array.from({ length: 15 }, (_, i) => `s${i}`),
  'x', // the shortest id
  'Ab9._:-'.repeat(19).slice(0, 128), // the longest id
  '__proto__',
  'constructor',
  '...', // dots only ('.' and '..' are refused: a URL path cannot name them)
];
const poolSession = fc.constantFrom(...SESSION_POOL);
const CUSTOMERS = ['cust-1', 'cust-2', 'cust-3', 'Kundin Ω', 'c'.repeat(128), '😀'.repeat(64)];
const NAMES = [
  'page_view',
  'product_view',
  'category_view',
  'container_add',
  'container_remove',
  'search',
  'order_complete',
  'user_login',
  'user_registration',
  'video.play',
  'newsletter:signup',
  'share-link',
  'a',
  'z'.repeat(64),
] as const;
type Name = (typeof NAMES)[number];

const iso = fc
  .tuple(fc.integer({ min: -30 * DAY, max: 60_000 }), fc.constantFrom(0, 0, 120, -330, 23 * 60 + 59, -(23 * 60 + 59)), fc.constantFrom(0, 3, 6, 1))
  .map(([dt, offsetMin, digits]) => {
    const ms = Date.now() + dt;
    const local = new Date(ms + offsetMin * 60_000).toISOString().slice(0, 19);
    const frac = digits
      ? `.${String(ms % 1000)
          .padStart(3, '0')
          .padEnd(digits, '0')
          .slice(0, digits)}`
      : '';
    const sign = offsetMin < 0 ? '-' : '+';
    const abs = Math.abs(offsetMin);
    const zone = offsetMin === 0 ? 'Z' : `${sign}${String(Math.floor(abs / 60)).padStart(2, '0')}:${String(abs % 60).padStart(2, '0')}`;
    return `${local}${frac}${zone}`;
  });

const objectId = fc.oneof(fc.stringMatching(/^sku-[0-9]{1,6}$/), fc.integer({ min: 0, max: 1_000_000 }));
const money = fc.double({ min: 0, max: 100_000, noNaN: true, noDefaultInfinity: true });
const productSnapshot = fc.record(
  {
    id: objectId,
    name: fc.string({ maxLength: 40 }),
    price: money,
    currency: fc.constantFrom('EUR', 'USD', 'CHF'),
    category_id: fc.stringMatching(/^cat-[0-9]{1,3}$/),
    brand: fc.string({ maxLength: 20 }),
    in_stock: fc.boolean(),
  },
  { requiredKeys: ['id'] },
);
const flatValue = fc.oneof(fc.string({ maxLength: 30 }), fc.integer(), money, fc.boolean(), fc.constant(null));
const params = fc.dictionary(fc.stringMatching(/^[a-z_]{1,12}$/), flatValue, { maxKeys: 6 });
const pageUrl = fc.constantFrom(
  `${ORIGIN}/`,
  `${ORIGIN}/p/1`,
  `${ORIGIN}/search?q=mug&utm_source=mail&token=secret`,
  `${ORIGIN}/c/2#/cart`,
  `${ORIGIN}/x#access_token=abc`,
  `${ORIGIN}/l?wev_link=garbage.token`,
  `${ORIGIN}/l?wev_link=a.b.c`,
  `${ORIGIN}/ü/ß?ä=1`,
  'not a url?x=1',
  'https://[::1/?a=1',
);
const page = fc.record({ url: pageUrl, referrer: fc.option(pageUrl), title: fc.option(fc.string({ maxLength: 40 })) }, { requiredKeys: [] });
const device = fc.record(
  { platform: fc.constantFrom('ios', 'android', 'web'), app_version: fc.stringMatching(/^[0-9]\.[0-9]{1,2}\.[0-9]$/), locale: fc.constantFrom('de-DE', 'en') },
  { requiredKeys: [] },
);

/** The context a preconfigured event requires (canonical or nested form); a custom type or none otherwise. */
function contextFor(name: Name): fc.Arbitrary<unknown> {
  const nested = fc.boolean();
  switch (name) {
    case 'product_view':
      return fc.tuple(productSnapshot, nested).map(([p, n]) => (n ? { product: p } : { type: 'product', ...p }));
    case 'category_view':
      return fc.record({ id: objectId, name: fc.string({ maxLength: 20 }) }, { requiredKeys: ['id'] }).map((c) => ({ type: 'category', ...c }));
    case 'container_add':
    case 'container_remove':
      return fc
        .tuple(productSnapshot, fc.constantFrom('cart', 'favorites', 'waitlist'), fc.option(fc.integer({ min: 1, max: 9 }), { nil: undefined }), nested)
        .map(([p, container, quantity, n]) => (n ? { product: p, container, quantity } : { type: 'product', ...p, container, quantity }));
    case 'search':
      return fc.record({ query: fc.string({ maxLength: 40 }), results_count: fc.nat(500) }, { requiredKeys: ['query'] }).map((s) => ({ type: 'search', ...s }));
    case 'order_complete':
      return fc
        .record(
          {
            id: objectId,
            total: money,
            currency: fc.constantFrom('EUR', 'USD'),
            items: fc.array(fc.record({ product_id: objectId, quantity: fc.integer({ min: 1, max: 5 }), price: money }), { maxLength: 4 }),
          },
          { requiredKeys: ['id'] },
        )
        .map((o) => ({ type: 'order', ...o }));
    default:
      return fc.option(
        fc.record({ type: fc.constantFrom('page', 'cart', 'video', 'x.y'), id: objectId, label: fc.string({ maxLength: 20 }) }, { requiredKeys: ['type'] }),
        { nil: undefined },
      );
  }
}

const needsCustomer = (name: Name) => name === 'user_login' || name === 'user_registration';
const SIGN = new Marker('sign');

/** Items the test knows are valid: the route must accept them (or answer duplicate). */
const wellFormed = new WeakSet<object>();
const valid = <T extends object>(value: T): T => {
  wellFormed.add(value);
  return value;
};

/** A well-formed EventInput (REST and SDK); `signed` for the channels that need customer_hash. */
function eventInput(signed: boolean, sessions: fc.Arbitrary<string> = poolSession) {
  return fc.constantFrom(...NAMES).chain((name) =>
    fc
      .record({
        id: fc.option(fc.uuid(), { nil: undefined, freq: 12 }),
        session: sessions,
        occurred: iso,
        seq: fc.option(fc.nat(100_000), { nil: undefined }),
        context: contextFor(name),
        params: fc.option(params, { nil: undefined }),
        page: fc.option(page, { nil: undefined }),
        device: fc.option(device, { nil: undefined }),
        customer: needsCustomer(name) ? fc.constantFrom(...CUSTOMERS) : fc.option(fc.constantFrom(...CUSTOMERS), { nil: undefined, freq: 4 }),
      })
      .map((f) =>
        valid({
          event_id: f.id,
          session_id: f.session,
          name,
          occurred_at: f.occurred,
          seq: f.seq,
          context: f.context,
          params: f.params,
          page: f.page,
          device: f.device,
          customer_id: f.customer,
          customer_hash: f.customer !== undefined && signed ? SIGN : undefined,
        }),
      ),
  );
}

// ---------------------------------------------------------------------------------------------
// Mutations of one event.

const id128 = fc.uuid().map((u) => `${u}.${'x_:-'.repeat(30)}`.slice(0, 128));
const id129 = id128.map((s) => `${s}y`);
const hex64 = fc.stringMatching(/^[0-9a-f]{64}$/);
const tooOld = fc.integer({ min: 366, max: 20_000 }).map((days) => new Date(Date.now() - days * DAY).toISOString());

const EVENT_SPECIFIC: Record<string, fc.Arbitrary<unknown>> = {
  event_id: fc.oneof(id128, id129, fc.constantFrom('', '__proto__', 'a b', 'é', 'x'.repeat(128), '-')),
  session_id: fc.oneof(poolSession, fc.constantFrom('S'.repeat(129), '', 's 1', 's/1', 'ß', '\u0000')),
  name: fc.constantFrom('a'.repeat(64), 'a'.repeat(65), 'Page_View', 'page view', 'ß', '', 'user_login', 'product_view', 'search'),
  customer_id: fc.oneof(fc.constantFrom('c'.repeat(128), 'c'.repeat(129), '', '😀'.repeat(64), '😀'.repeat(65), '\uD800'), unicodeString),
  customer_hash: fc.oneof(hex64, fc.constantFrom('0'.repeat(63), '0'.repeat(65), 'A'.repeat(64), '')),
  occurred_at: fc.oneof(fc.constantFrom(...ODD_DATES), iso, tooOld, fc.constantFrom(1e20, -1e20, 0, Date.now())),
  seq: fc.constantFrom(...EXTREME_NUMBERS),
  'context.type': fc.constantFrom('product', 'order', 'Product', '', 'x'.repeat(65), 'custom'),
  'context.id': fc.oneof(fc.constantFrom('', 'x'.repeat(128), 'x'.repeat(129), 1e308, -0, 2 ** 53), unicodeString),
  'context.price': fc.constantFrom(...EXTREME_NUMBERS, '9.99'),
  'context.currency': fc.constantFrom('EU', 'EURO', '€€€', '😀😀', 'eur', '😀a'),
  'context.quantity': fc.constantFrom(0, -1, -0, 1e308, 5e-324, 2 ** 53, '1'),
  'context.container': fc.constantFrom('Cart', '', 'c'.repeat(65), 'cart'),
  'context.items': fc.constantFrom(
    [{ product_id: 'p', quantity: 0 }],
    [{}],
    {},
    Array.from({ length: 501 }, () => ({ product_id: 'p', quantity: 1 })),
  ),
  'context.product': fc.oneof(productSnapshot, fc.constantFrom([], 'sku-1', null)),
  'context.query': fc.oneof(boundaryString, unicodeString),
  'context.padding': fc.constantFrom(long('p', 16 * 1024), long('p', 17 * 1024)),
  'params.k': fc.oneof(boundaryString, fc.constantFrom(...EXTREME_NUMBERS), fc.constantFrom({ nested: 1 }, [1])),
  params: fc.constantFrom(
    Object.fromEntries(Array.from({ length: 50 }, (_, i) => [`k${i}`, i])),
    Object.fromEntries(Array.from({ length: 51 }, (_, i) => [`k${i}`, i])),
    { ['k'.repeat(64)]: 1 },
    { ['k'.repeat(65)]: 1 },
  ),
  'page.url': fc.oneof(boundaryString, pageUrl, fc.constantFrom(`${ORIGIN}/?wev_link=${'a'.repeat(3000)}.b`, 'javascript:alert(1)')),
  'page.referrer': fc.oneof(boundaryString, pageUrl),
  'page.title': boundaryString,
  'device.model': fc.oneof(boundaryString, unicodeString),
  device: fc.constantFrom(long('d', 2100), { padding: long('d', 2000) }),
};
const EVENT_PATHS = [
  ...Object.keys(EVENT_SPECIFIC),
  'context',
  'page',
  '__proto__',
  'constructor',
  'context.__proto__',
  'params.__proto__',
  'device.__proto__',
  'extra',
];
const eventMutation = mutationArb(EVENT_PATHS, EVENT_SPECIFIC);

/** A non-event where an event is expected, or a placeholder for a replay or a copy. */
const oddItem: fc.Arbitrary<unknown> = fc.oneof(
  fc.constantFrom<unknown>(null, 0, -0, 1e308, '', 'page_view', true, [], {}),
  deepValue,
  fc.nat(1000).map((n) => new Marker('replay', n)),
  fc.nat(1000).map((n) => new Marker('dup', n)),
  protoObject,
);

function itemArb(wellFormedEvent: fc.Arbitrary<Obj>, mutation: fc.Arbitrary<Mutation>): fc.Arbitrary<unknown> {
  return fc.oneof(
    { weight: 10, arbitrary: wellFormedEvent },
    {
      weight: 8,
      arbitrary: fc.tuple(wellFormedEvent, fc.array(mutation, { minLength: 1, maxLength: 3 })).map(([e, ms]) => applyMutations(e, ms)),
    },
    { weight: 1, arbitrary: wellFormedEvent.map((e) => [e]) }, // an array where the event object is expected
    { weight: 2, arbitrary: oddItem },
  );
}

// Tracker wire events: short keys (src/tracker/wire.ts).
function wireEvent(sessions: fc.Arbitrary<string>) {
  return fc.constantFrom(...NAMES).chain((name) =>
    fc
      .record({
        i: fc.option(fc.uuid(), { nil: undefined, freq: 12 }),
        s: sessions,
        dt: fc.integer({ min: -30 * DAY, max: 60_000 }),
        q: fc.nat(10_000),
        u: pageUrl,
        r: fc.option(pageUrl, { nil: undefined }),
        c: contextFor(name),
        p: fc.option(params, { nil: undefined }),
        cu: needsCustomer(name) ? fc.constantFrom(...CUSTOMERS) : fc.option(fc.constantFrom(...CUSTOMERS), { nil: undefined, freq: 4 }),
      })
      .map(({ dt, ...w }) => valid({ ...w, n: name, t: Date.now() + dt, ch: w.cu !== undefined ? SIGN : undefined })),
  );
}
const WIRE_SPECIFIC: Record<string, fc.Arbitrary<unknown>> = {
  i: EVENT_SPECIFIC.event_id!,
  s: EVENT_SPECIFIC.session_id!,
  n: EVENT_SPECIFIC.name!,
  t: fc.oneof(
    fc.constantFrom(1e20, -1e20, 8.64e15, 8.64e15 + 1, -8.64e15, -8.64e15 - 1, -0, 0, 2 ** 53, 1.5, 1e308, -1e308, 5e-324),
    fc.constantFrom(...ODD_DATES),
    iso,
    fc.integer({ min: 366, max: 20_000 }).map((d) => Date.now() - d * DAY),
  ),
  q: fc.constantFrom(...EXTREME_NUMBERS),
  u: fc.oneof(boundaryString, pageUrl, fc.constant(long('u', 5000)), fc.constant(`${ORIGIN}/?wev_link=${'a'.repeat(3000)}.b`)),
  r: fc.oneof(boundaryString, fc.constantFrom(1, null, {})),
  cu: EVENT_SPECIFIC.customer_id!,
  ch: EVENT_SPECIFIC.customer_hash!,
  'c.product': EVENT_SPECIFIC['context.product']!,
  'c.product.id': EVENT_SPECIFIC['context.id']!,
  'c.product.price': EVENT_SPECIFIC['context.price']!,
  'c.type': EVENT_SPECIFIC['context.type']!,
  'c.quantity': EVENT_SPECIFIC['context.quantity']!,
  'p.k': EVENT_SPECIFIC['params.k']!,
  p: EVENT_SPECIFIC.params!,
};
const wireMutation = mutationArb([...Object.keys(WIRE_SPECIFIC), 'c', '__proto__', 'constructor', 'c.__proto__', 'x'], WIRE_SPECIFIC);

// ---------------------------------------------------------------------------------------------
// Request bodies.

type BodySpec =
  | { type: 'json'; value: unknown; headers?: Record<string, string> }
  | { type: 'text'; value: string | Lazy; headers?: Record<string, string> }
  | { type: 'gzip'; value: unknown }
  | { type: 'gzip-garbage' };

/** Bodies that are not a well-formed envelope; `field` is the events array's key. */
function hostileBody(field: string, items: fc.Arbitrary<unknown>, extra: Obj = {}): fc.Arbitrary<BodySpec> {
  const json = (value: unknown, headers?: Record<string, string>): BodySpec => ({ type: 'json', value, ...(headers ? { headers } : {}) });
  const some = fc.array(items, { minLength: 1, maxLength: 3 });
  return fc.oneof(
    fc
      .constantFrom(
        '',
        ' ',
        '\n\t',
        '{',
        `{"${field}": [`,
        'null',
        'true',
        '0',
        '"x"',
        '[]',
        '{}',
        '\uFEFF{}',
        'undefined',
        'NaN',
        `{"${field}": [NaN]}`,
        '1e999',
        '{"a":1}{"b":2}',
        `{'${field}': []}`,
        '\u0000',
        '<xml/>',
      )
      .map((value): BodySpec => ({ type: 'text', value })),
    fc.string({ unit: 'binary', maxLength: 60 }).map((value): BodySpec => ({ type: 'text', value })),
    fc
      .constantFrom<unknown>([], {}, { [field]: [] }, { [field]: {} }, { [field]: 'x' }, { [field]: null }, { [field]: 1e308 }, null, 1e308, -0, '')
      .map((v) => json({ ...extra, ...(isObj(v) ? v : {}) }, undefined)),
    fc.constantFrom<unknown>([], null, 1e308, -0, '', 'x').map((v) => json(v)),
    some.map((xs) => json(xs)), // the array where the envelope object is expected
    some.map((xs) => json({ ...extra, [field]: { 0: xs[0] } })), // an object where the array is expected
    fc.integer({ min: 501, max: 520 }).map((n) => json({ ...extra, [field]: Array.from({ length: n }, () => 1) })),
    deepValue.map((d) => json(d)),
    deepValue.map((d) => json({ ...extra, [field]: d })),
    deepValue.map((d) => json({ ...extra, [field]: [d] })),
    some.map((xs) => json(withKey({ ...extra, [field]: xs }, '__proto__', { [field]: 'polluted' }))),
    some.map((xs) => json({ ...extra, [field]: xs, constructor: { prototype: { polluted: true } } })),
    some.map((xs) => json({ ...extra, [field]: xs, padding: long('x', 1024 * 1024) })), // over 1 MB
    fc.constant<BodySpec>({ type: 'gzip-garbage' }),
    some.map((xs) => json({ ...extra, [field]: xs }, { 'content-encoding': 'br' })),
  );
}

async function gzip(text: string): Promise<Uint8Array> {
  const stream = new Blob([text]).stream().pipeThrough(new CompressionStream('gzip'));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

/** The body to send, its text before any compression (null when not text) and the headers it needs. */
async function materialize(spec: BodySpec): Promise<{ body: BodyInit; text: string | null; headers: Record<string, string> }> {
  switch (spec.type) {
    case 'json': {
      const text = JSON.stringify(spec.value) ?? '';
      return { body: text, text, headers: { 'content-type': 'application/json', ...spec.headers } };
    }
    case 'text': {
      const text = typeof spec.value === 'string' ? spec.value : String(spec.value.make());
      return { body: text, text, headers: { 'content-type': 'application/json', ...spec.headers } };
    }
    case 'gzip': {
      const text = JSON.stringify(spec.value);
      return { body: await gzip(text), text, headers: { 'content-type': 'application/json', 'content-encoding': 'gzip' } };
    }
    case 'gzip-garbage':
      return { body: new TextEncoder().encode('{"not": "gzip"}'), text: null, headers: { 'content-type': 'application/json', 'content-encoding': 'gzip' } };
  }
}

const parseOrNull = (text: string | null): unknown => {
  if (text === null) return null;
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
};

// ---------------------------------------------------------------------------------------------
// Response shapes.

const hasKeys = (v: Obj, allowed: readonly string[], required: readonly string[]) =>
  Object.keys(v).every((k) => allowed.includes(k)) && required.every((k) => Object.hasOwn(v, k));

function isDetails(d: unknown): boolean {
  return (
    Array.isArray(d) &&
    d.every((x) => isObj(x) && hasKeys(x, ['path', 'message'], ['path', 'message']) && typeof x.path === 'string' && typeof x.message === 'string')
  );
}

/** The one error shape; returns the error. */
function checkError(status: number, text: string, sent?: string): { code: string; message: string; details?: { path: string; message: string }[] } {
  const ctx = { status, text, sent };
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    must(false, `a ${status} body that is not JSON`, ctx);
  }
  must(isObj(body) && hasKeys(body, ['error'], ['error']), 'a 4xx body must be exactly {"error": {...}}', ctx);
  const error = body.error;
  must(isObj(error) && hasKeys(error, ['code', 'message', 'details'], ['code', 'message']), 'error must hold code, message and optional details only', ctx);
  must(typeof error.code === 'string' && typeof error.message === 'string', 'error.code and error.message must be strings', ctx);
  must(!Object.hasOwn(error, 'details') || isDetails(error.details), 'error.details must be [{path, message}]', ctx);
  return error as ReturnType<typeof checkError>;
}

/** Never a 5xx; a 4xx in the error shape. */
function checkStatus(status: number, text: string, sent?: string) {
  must(status < 500, `a ${status} answer`, { status, text, sent });
  if (status >= 400) return checkError(status, text, sent);
  return null;
}

// ---------------------------------------------------------------------------------------------
// What the sessions must hold.

interface SessionKey {
  source: CreatedSource;
  sessionId: string;
}
/** source id → session id → accepted event ids. */
const accepted = new Map<string, Map<string, Set<string>>>();
/** Tracker events accepted without an `i`: the server made their ids. */
const anonymous = new Map<string, number>();
const touched = new Map<string, SessionKey>();
const replayable = new Map<string, unknown[]>();
const inputs = { rest: 0, sdk: 0, tracker: 0, admin: 0, segments: 0 };
const statuses = new Map<string, number>();
const count = (what: string) => statuses.set(what, (statuses.get(what) ?? 0) + 1);

const skey = (sourceId: string, sessionId: string) => `${sourceId}\u0001${sessionId}`;
function acceptedIn(source: CreatedSource, sessionId: string): Set<string> {
  let bySession = accepted.get(source.id);
  if (!bySession) accepted.set(source.id, (bySession = new Map()));
  let ids = bySession.get(sessionId);
  if (!ids) bySession.set(sessionId, (ids = new Set()));
  touched.set(skey(source.id, sessionId), { source, sessionId });
  return ids;
}
function remember(source: CreatedSource, event: unknown) {
  let list = replayable.get(source.id);
  if (!list) replayable.set(source.id, (list = []));
  if (list.length < 300) list.push(event);
  else list[Math.floor(Math.random() * list.length)] = event;
}

// ---------------------------------------------------------------------------------------------
// Customer hashes (what a store's backend computes).

const hmacKeys = new Map<string, Promise<CryptoKey>>();
async function customerHash(secret: string, customerId: string): Promise<string> {
  let key = hmacKeys.get(secret);
  if (!key) hmacKeys.set(secret, (key = crypto.subtle.importKey('raw', new TextEncoder().encode(secret), { name: 'HMAC', hash: 'SHA-256' }, false, ['sign'])));
  const mac = await crypto.subtle.sign('HMAC', await key, new TextEncoder().encode(customerId));
  return [...new Uint8Array(mac)].map((b) => b.toString(16).padStart(2, '0')).join('');
}

/** Resolves the placeholders of a batch's items; a well-formed item stays known as such. */
async function resolveItems(items: readonly unknown[], source: CreatedSource, idKey: string, hashKey: string): Promise<unknown[]> {
  const out: unknown[] = [];
  for (const item of items) {
    let v = item;
    if (v instanceof Marker && v.kind === 'replay') {
      const list = replayable.get(source.id) ?? [];
      v = list.length ? list[v.n % list.length] : {};
    } else if (v instanceof Marker && v.kind === 'dup') {
      v = out.length ? out[v.n % out.length] : {};
    } else if (isObj(v) && v[hashKey] instanceof Marker) {
      const customerId = v[idKey];
      const hash = typeof customerId === 'string' ? await customerHash(source.identity_secret, customerId) : undefined;
      const signed = { ...v, [hashKey]: hash };
      if (wellFormed.has(v)) wellFormed.add(signed);
      v = signed;
    }
    out.push(v);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// REST and SDK: `{results}` one per event.

/** A batch route's 2xx: the body sent had an events array, and each event got its answer (checkResults). */
function checkBatchAnswer(source: CreatedSource, status: number, text: string, sent: string, body: string | null, mustAccept: boolean[]) {
  if (status < 200 || status >= 300) return;
  const parsed = parseOrNull(body);
  must(isObj(parsed) && Array.isArray(parsed.events), 'a 2xx for a body without an events array', { status, text, sent });
  checkResults(
    source,
    text,
    sent,
    parsed.events,
    parsed.events.map((_, i) => mustAccept[i] === true),
  );
}

function checkResults(source: CreatedSource, text: string, sentText: string, events: readonly unknown[], mustAccept: readonly boolean[]) {
  const ctx = { status: 200, text, sent: sentText };
  const body = parseOrNull(text);
  must(isObj(body) && hasKeys(body, ['results'], ['results']), 'a 200 body must be exactly {"results": [...]}', ctx);
  const results = body.results;
  must(Array.isArray(results) && results.length === events.length, `one result per event: ${events.length} sent`, ctx);
  results.forEach((r: unknown, i) => {
    must(isObj(r) && hasKeys(r, ['event_id', 'status', 'error'], ['event_id', 'status']), `result ${i}: {event_id, status, error?}`, ctx);
    must(r.event_id === null || typeof r.event_id === 'string', `result ${i}: event_id string or null`, ctx);
    must(r.status === 'accepted' || r.status === 'duplicate' || r.status === 'rejected', `result ${i}: status`, ctx);
    if (r.status === 'rejected') {
      const e = r.error;
      must(
        isObj(e) && hasKeys(e, ['code', 'message', 'details'], ['code', 'message', 'details']),
        `result ${i}: a rejection has {code, message, details}`,
        ctx,
      );
      must(typeof e.code === 'string' && typeof e.message === 'string' && isDetails(e.details), `result ${i}: rejection field types`, ctx);
      must(!mustAccept[i], `result ${i}: a well-formed event was rejected`, ctx);
      count(`rejected:${e.code}`);
      return;
    }
    must(!Object.hasOwn(r, 'error'), `result ${i}: only a rejection has an error`, ctx);
    const event = events[i];
    must(isObj(event) && typeof event.session_id === 'string', `result ${i}: ${r.status} for an event without a session`, ctx);
    must(typeof r.event_id === 'string', `result ${i}: ${r.status} without an event_id`, ctx);
    if (typeof event.event_id === 'string') must(r.event_id === event.event_id, `result ${i}: the event_id sent is the one answered`, ctx);
    const ids = acceptedIn(source, event.session_id);
    count(r.status);
    if (r.status === 'accepted') {
      must(!ids.has(r.event_id), `result ${i}: event ${r.event_id} accepted twice in session ${event.session_id}`, ctx);
      ids.add(r.event_id);
      remember(source, event);
    } else {
      must(ids.has(r.event_id), `result ${i}: duplicate of ${r.event_id}, never accepted in session ${event.session_id}`, ctx);
    }
  });
}

/** A batch's items: its events reach one to five sessions of the pool (a mutation may send one elsewhere). */
const batchItems = (item: (sessions: fc.Arbitrary<string>) => fc.Arbitrary<unknown>) =>
  fc
    .uniqueArray(poolSession, { minLength: 1, maxLength: 5 })
    .chain((ids) => fc.array(item(fc.constantFrom(...ids)), { minLength: 1, maxLength: BATCH_MAX, size: 'max' }));

type BatchRequest<Extra> = { kind: 'batch'; items: unknown[]; gzip: boolean } & Extra;
type EnvelopeRequest = { kind: 'envelope'; body: BodySpec };
type AuthRequest = { kind: 'auth'; items: unknown[]; auth: string };

// ---------------------------------------------------------------------------------------------

let rest: CreatedSource;
let sdkSources: { verified: CreatedSource; unverified: CreatedSource };
let trackerSources: { verified: CreatedSource; unverified: CreatedSource };
let server2: CreatedSource; // a server source: wrong kind for the SDK and the tracker
let adminTargets: CreatedSource[];

beforeAll(async () => {
  rest = await createSource({ kind: 'server' });
  sdkSources = {
    verified: await createSource({ kind: 'mobile_app' }),
    unverified: await createSource({ kind: 'mobile_app', require_verified_identity: false }),
  };
  trackerSources = {
    verified: await createSource({ kind: 'website', allowed_origins: [ORIGIN], allowed_query_params: ['q'] }),
    unverified: await createSource({ kind: 'website', allowed_origins: [ORIGIN], require_verified_identity: false }),
  };
  server2 = await createSource({ kind: 'server' });
  adminTargets = [await createSource({ kind: 'server' }), await createSource({ kind: 'website', allowed_origins: [ORIGIN] })];
});

/**
 * fast-check's options: the runs, and a time limit that bounds the shrinking of a failure (a
 * failure found is reported with the smallest input found so far; a run cut short before any
 * failure sends fewer inputs, which the input count at the end catches).
 */
const FC = (numRuns: number, limitMs: number) => ({ numRuns, interruptAfterTimeLimit: limitMs });

describe('every ingest route, the admin and the segment bodies, under generated input', () => {
  it('REST POST /api/v1/web-events: no 5xx, one error shape, one result per event', { timeout: 600_000 }, async () => {
    const item = itemArb(eventInput(false) as fc.Arbitrary<Obj>, eventMutation);
    const items = batchItems((sessions) => itemArb(eventInput(false, sessions) as fc.Arbitrary<Obj>, eventMutation));
    const request: fc.Arbitrary<BatchRequest<object> | EnvelopeRequest | AuthRequest> = fc.oneof(
      { weight: 17, arbitrary: fc.record({ kind: fc.constant('batch' as const), items, gzip: fc.constantFrom(false, false, false, true) }) },
      { weight: 3, arbitrary: fc.record({ kind: fc.constant('envelope' as const), body: hostileBody('events', item) }) },
      {
        weight: 1,
        arbitrary: fc.record({
          kind: fc.constant('auth' as const),
          items: fc.array(item, { minLength: 1, maxLength: 2 }),
          auth: fc.constantFrom('none', 'unknown', 'Basic', 'admin', 'lowercase'),
        }),
      },
    );
    await fc.assert(
      fc.asyncProperty(request, async (req) => {
        let spec: BodySpec;
        let mustAccept: boolean[] = [];
        let token: string | undefined = rest.secret_key;
        const headers: Record<string, string> = {};
        if (req.kind === 'envelope') {
          spec = req.body;
          inputs.rest += 1;
        } else {
          const events = await resolveItems(req.items, rest, 'customer_id', 'customer_hash');
          mustAccept = events.map((e) => isObj(e) && wellFormed.has(e));
          spec = req.kind === 'batch' && req.gzip ? { type: 'gzip', value: { events } } : { type: 'json', value: { events } };
          inputs.rest += req.kind === 'batch' ? events.length : 1;
          if (req.kind === 'auth') {
            token = undefined;
            if (req.auth === 'unknown') token = `sk_${'A'.repeat(43)}`;
            if (req.auth === 'admin') token = ADMIN_TOKEN;
            if (req.auth === 'Basic') headers.authorization = `Basic ${btoa(`x:${rest.secret_key}`)}`;
            if (req.auth === 'lowercase') headers.authorization = `bearer  ${rest.secret_key.slice(0, -1)}`;
          }
        }
        const m = await materialize(spec);
        const res = await call('/api/v1/web-events', { method: 'POST', body: m.body, headers: { ...m.headers, ...headers }, ...(token ? { token } : {}) });
        const text = await res.text();
        const sent = m.text ?? '(binary)';
        count(`rest:${res.status}`);
        checkStatus(res.status, text, sent);
        if (req.kind === 'auth') must(res.status === 401, 'a request without a valid secret key gets 401', { status: res.status, text, sent });
        if (req.kind === 'batch')
          must(res.status === 200 || res.status === 413, 'a well-formed envelope gets 200 (or 413 when over 1 MB)', { status: res.status, text, sent });
        checkBatchAnswer(rest, res.status, text, sent, m.text, mustAccept);
      }),
      FC(RUNS.rest, 25_000),
    );
  });

  it('SDK POST /v1/sdk/events: no 5xx, one error shape, one result per event', { timeout: 600_000 }, async () => {
    const item = itemArb(eventInput(true) as fc.Arbitrary<Obj>, eventMutation);
    const items = batchItems((sessions) => itemArb(eventInput(true, sessions) as fc.Arbitrary<Obj>, eventMutation));
    const batchDevice = fc.oneof(
      { weight: 6, arbitrary: fc.option(device.map(valid), { nil: undefined }) },
      { weight: 2, arbitrary: hostileValue },
      // Within the 2 KB device limit, as deep as it gets: arrays nest in 2 bytes a level; half of
      // them around the 1000 levels where SQLite's JSON functions stop (src/events/limits.ts).
      {
        weight: 2,
        arbitrary: fc.oneof(fc.integer({ min: 50, max: 1100 }), fc.integer({ min: 990, max: 1030 })).map((depth) => ({ nested: deep('array', depth) })),
      },
      { weight: 1, arbitrary: fc.integer({ min: 50, max: 500 }).map((depth) => ({ nested: deep('object', depth) })) },
    );
    const request = fc.oneof(
      {
        weight: 17,
        arbitrary: fc.record({
          kind: fc.constant('batch' as const),
          items,
          gzip: fc.constantFrom(false, false, false, true),
          verified: fc.boolean(),
          device: batchDevice,
        }),
      },
      { weight: 3, arbitrary: fc.record({ kind: fc.constant('envelope' as const), body: hostileBody('events', item), verified: fc.boolean() }) },
      {
        weight: 1,
        arbitrary: fc.record({
          kind: fc.constant('auth' as const),
          items: fc.array(item, { minLength: 1, maxLength: 2 }),
          auth: fc.constantFrom('none', 'unknown', 'secret', 'website', 'server'),
        }),
      },
    );
    await fc.assert(
      fc.asyncProperty(request, async (req) => {
        const source = req.kind === 'auth' ? sdkSources.verified : req.verified ? sdkSources.verified : sdkSources.unverified;
        let spec: BodySpec;
        let mustAccept: boolean[] = [];
        let key: string | undefined = source.public_key;
        if (req.kind === 'envelope') {
          spec = req.body;
          inputs.sdk += 1;
        } else {
          const events = await resolveItems(req.items, source, 'customer_id', 'customer_hash');
          // The batch's device facts join every event: a hostile one may refuse them all.
          const deviceOk = req.kind !== 'batch' || req.device === undefined || (isObj(req.device) && wellFormed.has(req.device));
          mustAccept = events.map((e) => deviceOk && isObj(e) && wellFormed.has(e));
          const value = req.kind === 'batch' && req.device !== undefined ? { device: req.device, events } : { events };
          spec = req.kind === 'batch' && req.gzip ? { type: 'gzip', value } : { type: 'json', value };
          inputs.sdk += req.kind === 'batch' ? events.length : 1;
          if (req.kind === 'auth') {
            key = {
              none: undefined,
              unknown: `pk_${'A'.repeat(24)}`,
              secret: source.secret_key,
              website: trackerSources.verified.public_key,
              server: server2.public_key,
            }[req.auth];
          }
        }
        const m = await materialize(spec);
        const res = await call('/v1/sdk/events', { method: 'POST', body: m.body, headers: { ...m.headers, ...(key ? { 'x-source-key': key } : {}) } });
        const text = await res.text();
        const sent = m.text ?? '(binary)';
        count(`sdk:${res.status}`);
        checkStatus(res.status, text, sent);
        if (req.kind === 'auth')
          must(res.status === 401 || res.status === 403, 'a request without a mobile_app public key gets 401 or 403', { status: res.status, text, sent });
        checkBatchAnswer(source, res.status, text, sent, m.text, mustAccept);
      }),
      FC(RUNS.sdk, 25_000),
    );
  });

  it('tracker POST /t: no 5xx, one error shape, refused events named by index', { timeout: 600_000 }, async () => {
    // A tracker batch is one page's events: one to three sessions; "wide" ones reach past the 10-session limit.
    const narrow = fc
      .uniqueArray(poolSession, { minLength: 1, maxLength: 3 })
      .chain((ids) =>
        fc.array(itemArb(wireEvent(fc.constantFrom(...ids)) as fc.Arbitrary<Obj>, wireMutation), { minLength: 1, maxLength: BATCH_MAX, size: 'max' }),
      );
    const wide = fc.array(itemArb(wireEvent(poolSession) as fc.Arbitrary<Obj>, wireMutation), { minLength: 11, maxLength: BATCH_MAX, size: 'max' });
    const item = itemArb(wireEvent(poolSession) as fc.Arbitrary<Obj>, wireMutation);
    const request = fc.oneof(
      {
        weight: 16,
        arbitrary: fc.record({
          kind: fc.constant('batch' as const),
          items: narrow,
          json: fc.boolean(),
          verified: fc.boolean(),
          gzip: fc.constantFrom(false, false, false, false, true),
          wide: fc.constant(false),
        }),
      },
      {
        weight: 1,
        arbitrary: fc.record({
          kind: fc.constant('batch' as const),
          items: wide,
          json: fc.boolean(),
          verified: fc.boolean(),
          gzip: fc.constant(false),
          wide: fc.constant(true),
        }),
      },
      { weight: 3, arbitrary: fc.record({ kind: fc.constant('envelope' as const), body: hostileBody('e', item, { k: '<key>' }), verified: fc.boolean() }) },
      {
        weight: 2,
        arbitrary: fc.record({
          kind: fc.constant('auth' as const),
          items: fc.array(item, { minLength: 1, maxLength: 3 }),
          auth: fc.constantFrom('no-origin', 'wrong-origin', 'origin-slash', 'unknown-key', 'server-key', 'sdk-key', 'no-key', 'key-type', 'bot', 'empty-ua'),
        }),
      },
    );
    await fc.assert(
      fc.asyncProperty(request, async (req) => {
        const source = req.kind === 'auth' ? trackerSources.unverified : req.verified ? trackerSources.verified : trackerSources.unverified;
        let spec: BodySpec;
        let mustAccept: boolean[] = [];
        const headers: Record<string, string> = { 'content-type': 'text/plain;charset=UTF-8', origin: ORIGIN, 'user-agent': CHROME };
        if (req.kind === 'envelope') {
          // The hostile bodies carry the real key where they carry one.
          spec = req.body.type === 'json' ? { ...req.body, value: replaceKey(req.body.value, source.public_key) } : req.body;
          inputs.tracker += 1;
        } else {
          const e = await resolveItems(req.items, source, 'cu', 'ch');
          // A wide batch's well-formed events may be refused for reaching an eleventh session.
          mustAccept = e.map((x) => isObj(x) && wellFormed.has(x) && !(req.kind === 'batch' && req.wide));
          let k: unknown = source.public_key;
          if (req.kind === 'auth') {
            if (req.auth === 'no-origin') delete headers.origin;
            if (req.auth === 'wrong-origin') headers.origin = 'https://evil.example';
            if (req.auth === 'origin-slash') headers.origin = `${ORIGIN}/`;
            if (req.auth === 'unknown-key') k = `pk_${'A'.repeat(24)}`;
            if (req.auth === 'server-key') k = server2.public_key;
            if (req.auth === 'sdk-key') k = sdkSources.verified.public_key;
            if (req.auth === 'no-key') k = undefined;
            if (req.auth === 'key-type') k = [source.public_key];
            if (req.auth === 'bot') headers['user-agent'] = BOT;
            if (req.auth === 'empty-ua') headers['user-agent'] = '';
          }
          const value = { k, e };
          spec = req.kind === 'batch' && req.gzip ? { type: 'gzip', value } : { type: 'json', value };
          inputs.tracker += req.kind === 'batch' ? e.length : 1;
        }
        const m = await materialize(spec);
        const h = { ...m.headers, ...headers };
        if (req.kind === 'batch' && req.json) h['content-type'] = 'application/json';
        if (m.headers['content-encoding']) h['content-encoding'] = m.headers['content-encoding'];
        const res = await call('/t', { method: 'POST', body: m.body, headers: h });
        const text = await res.text();
        const sent = m.text ?? '(binary)';
        const ctx = { status: res.status, text, sent };
        count(`tracker:${res.status}`);
        const error = checkStatus(res.status, text, sent);
        if (req.kind === 'auth') {
          // The body is read (and limited) before the user agent is looked at.
          if (req.auth === 'bot') must(res.status === 204 || res.status === 413, 'a bot beacon is dropped with 204', ctx);
          else if (req.auth === 'empty-ua')
            must(res.status === 204 || error?.code === 'invalid_events' || res.status === 413, 'an empty user agent is a browser', ctx);
          // ...and before the key and the origin: an oversized one is 413 whoever sent it.
          else must([400, 401, 403, 413].includes(res.status), 'a beacon without a usable key and origin is refused', ctx);
          if (req.auth !== 'empty-ua') return; // nothing stored
        }
        if (req.kind === 'batch')
          must(res.status === 204 || error?.code === 'invalid_events' || res.status === 413, 'a well-formed beacon gets 204, invalid_events or 413', ctx);
        if (res.status >= 300 && error?.code !== 'invalid_events') return;
        // What was stored: every event not named in the refusal.
        const body = parseOrNull(m.text);
        must(isObj(body) && Array.isArray(body.e), 'a 204 or invalid_events for a beacon without events', ctx);
        const events: unknown[] = body.e;
        if (res.status === 204) must(text === '', 'a 204 has no body', ctx);
        const refused = new Set<number>();
        for (const d of error?.details ?? []) {
          const match = /^e\.(\d+)\.(.+)$/.exec(d.path);
          must(match && Number(match[1]) < events.length, `detail path ${d.path} must be e.<index>.<field>`, ctx);
          refused.add(Number(match[1]));
        }
        if (error) must(refused.size > 0, 'invalid_events must name the refused events', ctx);
        events.forEach((ev, i) => {
          if (refused.has(i)) {
            must(!mustAccept[i], `event ${i}: a well-formed event was refused`, ctx);
            count('tracker:refused');
            return;
          }
          must(isObj(ev) && typeof ev.s === 'string', `event ${i}: stored without a session`, ctx);
          const ids = acceptedIn(source, ev.s);
          if (ev.i === undefined) {
            anonymous.set(skey(source.id, ev.s), (anonymous.get(skey(source.id, ev.s)) ?? 0) + 1);
            count('tracker:accepted');
          } else {
            must(typeof ev.i === 'string', `event ${i}: stored with an event id that is not a string`, ctx);
            if (!ids.has(ev.i)) {
              ids.add(ev.i);
              remember(source, ev);
              count('tracker:accepted');
            } else count('tracker:duplicate');
          }
        });
      }),
      FC(RUNS.tracker, 25_000),
    );
  });

  it('every accepted event is in its live session and, after the alarm, in the lake, and in D1 when its session is identified; nothing else is', {
    timeout: 600_000,
  }, async () => {
    console.log(JSON.stringify({ ingestInputs: inputs, sessions: touched.size }));
    const problems: string[] = [];
    const live = new Map<string, Set<string>>();
    const identified = new Set<string>();
    for (const [key, { source, sessionId }] of touched) {
      const known = accepted.get(source.id)?.get(sessionId) ?? new Set<string>();
      const extra = anonymous.get(key) ?? 0;
      const read = new Set<string>();
      let cursor: string | null = null;
      let failed = false;
      do {
        const res = await call(
          `/api/v1/sessions/${encodeURIComponent(source.id)}/${encodeURIComponent(sessionId)}?limit=1000${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`,
          {
            token: source.secret_key,
          },
        );
        const text = await res.text();
        const body = parseOrNull(text);
        if (
          res.status !== 200 ||
          !isObj(body) ||
          !hasKeys(body, ['session', 'events', 'next_cursor'], ['session', 'events', 'next_cursor']) ||
          !Array.isArray(body.events)
        ) {
          problems.push(`live read of ${source.id}/${JSON.stringify(sessionId)} (${known.size + extra} events accepted): ${res.status} ${text.slice(0, 300)}`);
          failed = true;
          break;
        }
        for (const e of body.events as { event_id: string }[]) read.add(e.event_id);
        if (isObj(body.session) && body.session.customer_id) identified.add(key);
        cursor = typeof body.next_cursor === 'string' ? body.next_cursor : null;
      } while (cursor);
      if (failed) continue;
      live.set(key, read);
      const missing = [...known].filter((id) => !read.has(id));
      if (missing.length)
        problems.push(
          `live read of ${source.id}/${JSON.stringify(sessionId)} misses ${missing.length} accepted events, e.g. ${missing.slice(0, 3).join(', ')}`,
        );
      if (read.size !== known.size + extra)
        problems.push(`live read of ${source.id}/${JSON.stringify(sessionId)} holds ${read.size} events, ${known.size + extra} were accepted`);
    }

    // The alarm's first task may be a D1 flush: a session still open after it is run again, to its
    // close, when the lake gets it.
    for (const { source, sessionId } of touched.values()) {
      try {
        await runAlarmOf(sessionStub(source.id, sessionId));
        if ((await d1Session(source.id, sessionId))?.status !== 'closed') await runAlarmOf(sessionStub(source.id, sessionId));
      } catch (error) {
        problems.push(`alarm of ${source.id}/${JSON.stringify(sessionId)} threw: ${String(error)}`);
      }
    }

    // The lake holds every event the live read held; D1 the same when the session is identified, none of them while it is anonymous.
    const lakeOf = new Map<string, Set<string>>();
    for (const sourceId of new Set([...touched.values()].map((t) => t.source.id)))
      for (const r of await env.LAKE.records(sourceId)) {
        const key = `${sourceId}\u0000${r.session_id}`;
        if (!lakeOf.has(key)) lakeOf.set(key, new Set());
        lakeOf.get(key)!.add(r.event_id);
      }
    let checked = 0;
    for (const [key, read] of live) {
      const { source, sessionId } = touched.get(key)!;
      const name = `${source.id}/${JSON.stringify(sessionId)}`;
      checked += read.size;
      const inLake = lakeOf.get(`${source.id}\u0000${sessionId}`) ?? new Set<string>();
      const notArchived = [...read].filter((id) => !inLake.has(id));
      if (notArchived.length || inLake.size !== read.size)
        problems.push(`the lake holds ${inLake.size} events of ${name}, the live read ${read.size} (${notArchived.length} missing)`);
      const inD1 = new Set<string>();
      for (const { db } of shards(env)) {
        const { results } = await db
          .prepare(`SELECT e.event_id FROM ${EVENTS_WITH_SESSION} WHERE s.source_id = ? AND s.session_id = ?`)
          .bind(source.id, sessionId)
          .all<{ event_id: string }>();
        for (const r of results) inD1.add(r.event_id);
      }
      const expected = identified.has(key) ? read.size : 0;
      const lost = identified.has(key) ? [...read].filter((id) => !inD1.has(id)) : [];
      if (lost.length || inD1.size !== expected)
        problems.push(
          `D1 holds ${inD1.size} events of ${name} (${identified.has(key) ? 'identified' : 'anonymous'}), expected ${expected} (${lost.length} missing)`,
        );
    }

    console.log(
      JSON.stringify({
        accepted: checked,
        identified: identified.size,
        anonymous: [...anonymous.values()].reduce((a, b) => a + b, 0),
        problems: problems.length,
      }),
    );
    expect(problems).toEqual([]);
  });

  it('admin POST and PATCH /api/v1/admin/sources: no 5xx, one error shape', { timeout: 600_000 }, async () => {
    const origin = fc.constantFrom('https://shop.example', 'http://localhost:8787', 'https://a.b.example:8443', 'https://xn--nicode-2ya.example');
    const create = fc.record(
      {
        id: fc.oneof(fc.constant(new Marker('unique')), fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/)),
        name: fc.string({ minLength: 1, maxLength: 60 }),
        kind: fc.constantFrom('server', 'website', 'mobile_app'),
        allowed_origins: fc.array(origin, { maxLength: 3 }),
        session_timeout_s: fc.integer({ min: 60, max: 86_400 }),
        require_verified_identity: fc.boolean(),
        allowed_query_params: fc.array(fc.stringMatching(/^[A-Za-z0-9_.\-[\]]{1,64}$/), { maxLength: 5 }),
      },
      { requiredKeys: ['id', 'name', 'kind'] },
    );
    const patch = fc.record(
      {
        name: fc.string({ minLength: 1, maxLength: 60 }),
        allowed_origins: fc.array(origin, { maxLength: 3 }),
        session_timeout_s: fc.integer({ min: 60, max: 86_400 }),
        active: fc.boolean(),
        require_verified_identity: fc.boolean(),
        allowed_query_params: fc.array(fc.stringMatching(/^[A-Za-z0-9_.\-[\]]{1,64}$/), { maxLength: 5 }),
      },
      { requiredKeys: [] },
    );
    const ADMIN_SPECIFIC: Record<string, fc.Arbitrary<unknown>> = {
      id: fc.constantFrom('a'.repeat(64), 'a'.repeat(65), '_x', '.x', 'ü', '', 'a b', '__proto__', 'constructor'),
      name: fc.oneof(fc.constantFrom('', 'n'.repeat(200), 'n'.repeat(201), '😀'.repeat(100), '😀'.repeat(101)), unicodeString),
      kind: fc.constantFrom('Server', 'browser', '', 'website '),
      allowed_origins: fc.constantFrom(
        Array.from({ length: 100 }, (_, i) => `https://s${i}.example`),
        Array.from({ length: 101 }, (_, i) => `https://s${i}.example`),
        'https://shop.example',
      ),
      'allowed_origins.0': fc.constantFrom(
        'https://shop.example/',
        'https://shop.example/path',
        'shop.example',
        'https://ÜNICODE.example',
        'http://[::1]:80',
        'https://a:b@c.example',
        'null',
        'file:///etc/passwd',
        'https://shop.example:99999',
        'https://shop.example:443',
        'blob:https://x.example',
        `https://${'a'.repeat(3000)}.example`,
      ),
      session_timeout_s: fc.constantFrom(59, 60, 86_400, 86_401, 60.5, 1e308, -0, 2 ** 53, '3600'),
      require_verified_identity: fc.constantFrom('true', 1, null),
      active: fc.constantFrom('false', 0, null),
      allowed_query_params: fc.constantFrom(
        Array.from({ length: 50 }, (_, i) => `p${i}`),
        Array.from({ length: 51 }, (_, i) => `p${i}`),
        ['q'.repeat(64)],
        ['q'.repeat(65)],
        ['a b'],
        ['ü'],
      ),
    };
    const mutation = mutationArb([...Object.keys(ADMIN_SPECIFIC), '__proto__', 'constructor', 'extra', 'public_key', 'secret_key'], ADMIN_SPECIFIC);
    const mutated = <T>(arb: fc.Arbitrary<T>) => fc.tuple(arb, fc.array(mutation, { minLength: 1, maxLength: 3 })).map(([b, ms]) => applyMutations(b, ms));
    const targetId = fc.oneof(
      { weight: 6, arbitrary: fc.nat(1).map((i) => ({ kind: 'own' as const, i })) },
      {
        weight: 1,
        arbitrary: fc.constantFrom(
          { kind: 'path' as const, path: 'missing-source-zz' },
          { kind: 'path' as const, path: 'a'.repeat(65) },
          { kind: 'path' as const, path: '%C3%BC' },
          { kind: 'path' as const, path: '__proto__' },
          { kind: 'path' as const, path: '..%2F..' },
        ),
      },
    );
    const body = (wellFormedBody: fc.Arbitrary<unknown>) =>
      fc.oneof(
        { weight: 4, arbitrary: wellFormedBody.map((value): BodySpec => ({ type: 'json', value })) },
        { weight: 5, arbitrary: mutated(wellFormedBody).map((value): BodySpec => ({ type: 'json', value })) },
        { weight: 3, arbitrary: hostileBody('name', fc.jsonValue({ maxDepth: 2 })) },
        { weight: 1, arbitrary: wellFormedBody.map((value): BodySpec => ({ type: 'json', value, headers: { 'content-type': 'text/plain' } })) },
        { weight: 1, arbitrary: deepValue.map((d): BodySpec => ({ type: 'json', value: d, headers: { 'content-type': 'text/plain' } })) },
      );
    const request = fc.oneof(
      fc.record({
        op: fc.constant('create' as const),
        body: body(create),
        token: fc.constantFrom('admin', 'admin', 'admin', 'admin', 'admin', 'none', 'secret'),
      }),
      fc.record({
        op: fc.constant('patch' as const),
        target: targetId,
        body: body(patch),
        token: fc.constantFrom('admin', 'admin', 'admin', 'admin', 'admin', 'none'),
      }),
    );
    const SOURCE_KEYS = [
      'id',
      'name',
      'kind',
      'allowed_origins',
      'public_key',
      'session_timeout_s',
      'active',
      'require_verified_identity',
      'allowed_query_params',
      'keep_url_fragments',
      'previous_keys_expire_at',
      'created_at',
      'updated_at',
    ];
    await fc.assert(
      fc.asyncProperty(request, async (req) => {
        inputs.admin += 1;
        const spec = req.body.type === 'json' ? { ...req.body, value: resolveUnique(req.body.value) } : req.body;
        const m = await materialize(spec);
        const path =
          req.op === 'create'
            ? '/api/v1/admin/sources'
            : `/api/v1/admin/sources/${req.target.kind === 'own' ? adminTargets[req.target.i]!.id : req.target.path}`;
        const token = req.token === 'admin' ? ADMIN_TOKEN : req.token === 'secret' ? rest.secret_key : undefined;
        const res = await call(path, { method: req.op === 'create' ? 'POST' : 'PATCH', body: m.body, headers: m.headers, ...(token ? { token } : {}) });
        const text = await res.text();
        const sent = m.text ?? '(binary)';
        const ctx = { status: res.status, text, sent };
        count(`admin:${req.op}:${res.status}`);
        checkStatus(res.status, text, sent);
        if (req.token !== 'admin') must(res.status === 401, 'the admin API without the admin token gets 401', ctx);
        if (res.status < 300) {
          must(res.status === (req.op === 'create' ? 201 : 200), `a ${req.op} answers ${req.op === 'create' ? 201 : 200}`, ctx);
          const source = parseOrNull(text);
          const allowed = req.op === 'create' ? [...SOURCE_KEYS, 'secret_key', 'identity_secret'] : SOURCE_KEYS;
          must(isObj(source) && hasKeys(source, allowed, allowed), 'a source answer has exactly the source fields', ctx);
        }
      }),
      FC(RUNS.admin, 15_000),
    );
  });

  it('segments POST /api/v1/segments/preview and /api/v1/segments: no 5xx, one error shape', { timeout: 600_000 }, async () => {
    const scalar = fc.oneof(fc.string({ maxLength: 20 }), fc.integer(), money, fc.boolean());
    const field = fc.constantFrom(
      'price',
      'context.price',
      'params.rating',
      'page.url',
      'context.items',
      'a.b.c.d.e',
      `context.${'a'.repeat(64)}.b.c.d.e`,
      'id',
      'context.id',
      'brand',
    );
    const fieldCondition = fc.oneof(
      fc.record({ field, op: fc.constantFrom('eq', 'neq', 'contains'), value: scalar }),
      fc.record({ field, op: fc.constantFrom('gt', 'gte', 'lt', 'lte'), value: fc.oneof(fc.integer(), money, fc.string({ maxLength: 20 })) }),
      fc.record({ field, op: fc.constant('in'), value: fc.array(scalar, { minLength: 1, maxLength: 8 }) }),
      fc.record({ field, op: fc.constant('exists') }),
    );
    const days = fc.integer({ min: 0, max: 3650 });
    const sourceId = fc.constantFrom(rest.id, sdkSources.verified.id, trackerSources.unverified.id, 'no-such-source');
    const eventCondition = fc.record(
      {
        event: fc.constantFrom(...NAMES),
        source_id: sourceId,
        within_days: days,
        count: fc.oneof(fc.record({ gte: fc.nat(5) }), fc.record({ lte: fc.nat(5) }), fc.record({ eq: fc.nat(5) })),
        where: fc.array(fieldCondition, { maxLength: 3 }),
        last_within_days: days,
        last_before_days: days,
      },
      { requiredKeys: ['event'] },
    );
    const windowed = fc.tuple(eventCondition, iso, iso).map(([c, from, to]) => {
      const { within_days: _days, ...others } = c;
      return { ...others, from, to };
    });
    const filter = fc.oneof(fc.record({ has_session_from: sourceId }), fc.constant({ identified: true as const }));
    const { node } = fc.letrec<{ node: unknown; leaf: unknown }>((tie) => ({
      leaf: fc.oneof({ weight: 5, arbitrary: eventCondition }, { weight: 1, arbitrary: windowed }, { weight: 2, arbitrary: filter }),
      node: fc.oneof(
        { maxDepth: 7, depthSize: 'small' },
        { weight: 4, arbitrary: tie('leaf') },
        { weight: 1, arbitrary: fc.record({ all: fc.array(tie('node'), { minLength: 1, maxLength: 8 }) }) },
        { weight: 1, arbitrary: fc.record({ any: fc.array(tie('node'), { minLength: 1, maxLength: 8 }) }) },
        { weight: 1, arbitrary: fc.record({ not: tie('node') }) },
      ),
    }));
    // At the limits: up to 40 conditions (20 per all/any) of up to 20 field conditions each, and just past them.
    const wideCondition = fc
      .tuple(fc.integer({ min: 1, max: 20 }), fc.constantFrom('in' as const, 'eq' as const), fc.boolean(), fc.nat(999), fc.integer({ min: 1, max: 100 }))
      .map(([wheres, op, negate, k, values]) => {
        const condition = {
          event: 'product_view',
          within_days: 30,
          count: { lte: 3 },
          where: Array.from({ length: wheres }, (_, i) =>
            op === 'in'
              ? { field: `context.f${i}`, op, value: Array.from({ length: values }, (_, j) => `v${k}-${j}`) }
              : { field: `params.f${i}`, op, value: i },
          ),
        };
        return negate ? { not: condition } : condition;
      });
    const group = fc.array(wideCondition, { minLength: 1, maxLength: 21, size: 'max' });
    const maximal = fc.tuple(fc.constantFrom('all' as const, 'any' as const), group, group).map(([op, a, b]) => ({ any: [{ [op]: a }, { [op]: b }] }));
    // Many conditions through narrow nodes (at most 5 children each): up to 125 leaves, 40 allowed.
    const narrow = (leaf: fc.Arbitrary<unknown>, op: 'all' | 'any') => fc.array(leaf, { minLength: 1, maxLength: 5, size: 'max' }).map((xs) => ({ [op]: xs }));
    const nestedMaximal = narrow(narrow(narrow(wideCondition, 'any'), 'all'), 'any');
    const tooDeep = fc.integer({ min: 6, max: 30 }).map((d) => Array.from({ length: d }).reduce<unknown>((n) => ({ not: n }), { identified: true }));
    const definition = fc.oneof(
      { weight: 8, arbitrary: node },
      { weight: 1, arbitrary: maximal },
      { weight: 2, arbitrary: nestedMaximal },
      { weight: 1, arbitrary: tooDeep },
    );
    const SEGMENT_SPECIFIC: Record<string, fc.Arbitrary<unknown>> = {
      name: fc.oneof(fc.constantFrom('', 'n'.repeat(200), 'n'.repeat(201)), unicodeString),
      definition: fc.oneof(
        hostileValue,
        fc.constantFrom({}, { all: [] }, { any: [] }, { not: null }, { event: 'x', within_days: 1, from: '2024-01-01T00:00:00Z' }),
      ),
      'definition.event': EVENT_SPECIFIC.name!,
      'definition.within_days': fc.constantFrom(-1, 3651, 1.5, 1e308, -0, '7'),
      'definition.from': fc.constantFrom(...ODD_DATES),
      'definition.to': fc.constantFrom(...ODD_DATES),
      'definition.count': fc.constantFrom({}, { gte: 1, lte: 2 }, { gte: -1 }, { eq: 2 ** 53 }, { eq: Number.MAX_SAFE_INTEGER }, { gte: 1e308 }),
      'definition.where': fc.constantFrom(
        [{ field: 'price', op: 'between', value: 1 }],
        [{ field: '1price', op: 'eq', value: 1 }],
        [{ field: 'context.a.b.c.d.e.f', op: 'eq', value: 1 }],
        [{ field: 'price', op: 'in', value: [] }],
        [{ field: 'price', op: 'in', value: Array.from({ length: 101 }, (_, i) => i) }],
        [{ field: 'price', op: 'gt', value: 'x'.repeat(65) }],
        [{ field: 'price', op: 'eq', value: 'x'.repeat(1025) }],
        [{ field: 'price', op: 'eq', value: '\uD800' }],
        [{ field: 'price', op: 'gt', value: 1e308 }],
        Array.from({ length: 21 }, () => ({ field: 'price', op: 'exists' })),
      ),
      'definition.all': fc.constantFrom(
        [],
        [1],
        Array.from({ length: 21 }, () => ({ identified: true })),
      ),
      'definition.any': fc.constantFrom(
        [],
        [null],
        Array.from({ length: 21 }, () => ({ identified: true })),
      ),
      'definition.has_session_from': fc.constantFrom('', 'x'.repeat(65), 1),
      'definition.identified': fc.constantFrom(false, 'true', 1),
    };
    const mutation = mutationArb(
      [...Object.keys(SEGMENT_SPECIFIC), '__proto__', 'constructor', 'definition.__proto__', 'definition.constructor', 'extra'],
      SEGMENT_SPECIFIC,
    );
    const wellFormedBody = fc.record({ name: fc.string({ minLength: 1, maxLength: 40 }), definition });
    const body = fc.oneof(
      { weight: 5, arbitrary: wellFormedBody.map((value): BodySpec => ({ type: 'json', value })) },
      {
        weight: 5,
        arbitrary: fc
          .tuple(wellFormedBody, fc.array(mutation, { minLength: 1, maxLength: 3 }))
          .map(([b, ms]): BodySpec => ({ type: 'json', value: applyMutations(b, ms) })),
      },
      { weight: 3, arbitrary: hostileBody('definition', node) },
    );
    const request = fc.record({
      route: fc.constantFrom('preview', 'preview', 'preview', 'create'),
      token: fc.constantFrom('admin', 'admin', 'admin', 'secret', 'secret', 'secret', 'none', 'unknown'),
      body,
    });
    await fc.assert(
      fc.asyncProperty(request, async (req) => {
        inputs.segments += 1;
        const m = await materialize(req.body);
        const token = { admin: ADMIN_TOKEN, secret: rest.secret_key, none: undefined, unknown: `sk_${'B'.repeat(43)}` }[req.token];
        const res = await call(req.route === 'preview' ? '/api/v1/segments/preview' : '/api/v1/segments', {
          method: 'POST',
          body: m.body,
          headers: m.headers,
          ...(token ? { token } : {}),
        });
        const text = await res.text();
        const sent = m.text ?? '(binary)';
        const ctx = { status: res.status, text, sent };
        count(`segments:${req.route}:${res.status}`);
        checkStatus(res.status, text, sent);
        if (!token || req.token === 'unknown') must(res.status === 401, 'a segment request without a valid key gets 401', ctx);
        if (res.status < 300) {
          const out = parseOrNull(text);
          if (req.route === 'preview') {
            must(
              res.status === 200 && isObj(out) && hasKeys(out, ['count', 'customer_ids'], ['count', 'customer_ids']),
              'a preview answers {count, customer_ids}',
              ctx,
            );
            must(Number.isInteger(out.count) && Array.isArray(out.customer_ids), 'preview field types', ctx);
          } else {
            const keys = ['id', 'source_id', 'name', 'definition', 'member_count', 'computed_at', 'created_at'];
            must(res.status === 201 && isObj(out) && hasKeys(out, keys, keys), 'a created segment answers the segment', ctx);
          }
        }
      }),
      FC(RUNS.segments, 10_000),
    );
  });

  it(`sent at least ${MIN_INPUTS} generated inputs`, () => {
    const total = Object.values(inputs).reduce((a, b) => a + b, 0);
    console.log(JSON.stringify({ inputs, total, outcomes: Object.fromEntries([...statuses].sort()) }));
    expect(total).toBeGreaterThanOrEqual(MIN_INPUTS);
  });
});

/** The hostile tracker bodies carry `<key>` where the real key goes. */
function replaceKey(value: unknown, key: string): unknown {
  if (isObj(value) && value.k === '<key>') return withKey({ ...value }, 'k', key);
  return value;
}

/** Resolves the `unique` placeholder of an admin body's id. */
function resolveUnique(value: unknown): unknown {
  if (isObj(value) && value.id instanceof Marker) return withKey({ ...value }, 'id', unique('ps'));
  return value;
}
