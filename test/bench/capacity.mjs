// Capacity (issue 13): what each storage tier holds per event and per session, measured, and what a
// store of 1,000,000 sessions a day needs from it. Run: npm run bench:capacity (a minute or two).
//
// - Runs the bundled worker in Miniflare with local D1 and Durable Objects persisted to a temporary
//   folder, and a stand-in LAKE that counts the records and bytes it is sent.
// - Sends BENCH_CAP_SESSIONS tracker sessions (default 1,000) of 20 realistic events each through
//   POST /t: product, category and search contexts, page URLs (utm on the landing), a desktop Chrome
//   user agent; one session in BENCH_CAP_LOGIN_EVERY (default 5) logs in, with its customer_hash.
// - Waits until D1 and the lake hold every event, closes Miniflare, then reads the D1 file with
//   node:sqlite's dbstat (bytes per table and index) and sums the session objects' SQLite files.
// - Prints the measured bytes and the capacity model built from them; writes test/bench/results/.
import { createHmac, randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { setTimeout as sleep } from 'node:timers/promises';
import { convertV4MiniflareOptions, Miniflare } from 'miniflare';
import { ADMIN_TOKEN, applyMigrations, bundle, log, ORIGIN, root, wranglerConfig } from './harness.mjs';

const SESSIONS = Number(process.env.BENCH_CAP_SESSIONS ?? 1000);
const LOGIN_EVERY = Number(process.env.BENCH_CAP_LOGIN_EVERY ?? 5);
const CHROME = 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36';

// The model's inputs: the store, and what is assumed (each printed with the table).
const MODEL = {
  sessionsPerDay: 1_000_000,
  eventsPerSession: 10,
  identifiedShare: 0.05,
  anonymousDays: 60,
  identifiedYears: 3,
  peakOverAverage: 3,
  shardBytes: 8e9,
  d1WritesPerSecond: 1000,
};
/** The sessions measured are the model's: its objects' pages depend on how many events they hold. */
const EVENTS_PER_SESSION = MODEL.eventsPerSession;

const LAKE = `
import { WorkerEntrypoint } from 'cloudflare:workers';
let records = 0, bytes = 0;
export class Lake extends WorkerEntrypoint {
  async send(batch) { records += batch.length; for (const r of batch) bytes += new TextEncoder().encode(JSON.stringify(r)).byteLength; }
}
export default { fetch: () => Response.json({ records, bytes }) };
`;

const products = Array.from({ length: 200 }, (_, i) => ({
  id: `sku-${10000 + i}`,
  name: `Stoneware mug ${i}, 350 ml`,
  price: 9.5 + (i % 30),
  currency: 'EUR',
  category_id: `cat-${i % 12}`,
  brand: ['Acme', 'Hearth & Co', 'Nordvik'][i % 3],
  url: `${ORIGIN}/p/sku-${10000 + i}`,
  image_url: `https://cdn.shop.example/img/sku-${10000 + i}.jpg`,
  in_stock: i % 7 !== 0,
}));

/** One visit of EVENTS_PER_SESSION events: a landing with utm, browsing (a search past 10 events), a cart, sometimes a login. */
function visit(n, sessionId, identity) {
  const t0 = Date.now() - 20 * 60_000;
  const p = (i) => products[(n * 7 + i * 13) % products.length];
  const page = (i, url) => ({ u: url, r: i === 0 ? 'https://www.google.com/' : undefined });
  const steps = [
    [
      'user_visit',
      `${ORIGIN}/?utm_source=newsletter&utm_medium=email&utm_campaign=winter-sale`,
      undefined,
      { utm_source: 'newsletter', utm_medium: 'email', utm_campaign: 'winter-sale' },
    ],
    ['page_view', `${ORIGIN}/?utm_source=newsletter&utm_medium=email&utm_campaign=winter-sale`],
    ['category_view', `${ORIGIN}/c/mugs`, { category: { id: 'cat-3', name: 'Mugs', parent_id: 'kitchen' } }],
    ['page_view', `${ORIGIN}/c/mugs`],
  ];
  for (let i = 0; steps.length < EVENTS_PER_SESSION - 4; i++) {
    steps.push(['product_view', p(i).url, { product: p(i) }]);
    if (i === 2) steps.push(['search', `${ORIGIN}/search?q=blue+mug`, { search: { query: 'blue mug', results_count: 14 } }]);
  }
  steps.push(['container_add', p(1).url, { product: p(1), container: 'cart', quantity: 2 }]);
  steps.push(['page_view', `${ORIGIN}/cart`]);
  if (identity) steps.push(['user_login', `${ORIGIN}/account`, undefined, undefined, identity]);
  else steps.push(['page_view', `${ORIGIN}/account/login`]);
  steps.push(['product_rated', p(0).url, { type: 'product', id: p(0).id }, { rating: 4, section: 'reviews' }]);
  return steps.map(([name, url, c, params, who], i) => ({
    i: randomUUID(),
    s: sessionId,
    n: name,
    t: t0 + i * 30_000,
    q: i + 1,
    ...page(i, url),
    ...(c ? { c } : {}),
    ...(params ? { p: params } : {}),
    ...(who ? { cu: who.customer, ch: who.hash } : {}),
  }));
}

const sqliteFiles = (dir) =>
  readdirSync(dir, { recursive: true })
    .map((f) => path.join(dir, String(f)))
    .filter((f) => f.endsWith('.sqlite'));
/** The pages a SQLite file's tables and indexes take (dbstat), not its write-ahead log. */
function pageBytes(file) {
  const db = new DatabaseSync(file, { readOnly: true });
  const { bytes } = db.prepare('SELECT sum(pgsize) AS bytes FROM dbstat').get();
  db.close();
  return bytes;
}

async function main() {
  log(`capacity: ${SESSIONS} tracker sessions of ${EVENTS_PER_SESSION} events, one in ${LOGIN_EVERY} logging in`);
  const bundleDir = bundle();
  const wrangler = await wranglerConfig();
  const persist = mkdtempSync(path.join(tmpdir(), 'we-capacity-'));
  const mf = new Miniflare(
    convertV4MiniflareOptions({
      resourcePersistencePath: persist,
      workers: [
        {
          name: 'ours',
          modules: true,
          modulesRoot: bundleDir,
          scriptPath: path.join(bundleDir, 'index.js'),
          compatibilityDate: wrangler.compatibilityDate,
          compatibilityFlags: wrangler.compatibilityFlags,
          d1Databases: { DB: 'capacity' },
          durableObjects: { SESSIONS: { className: 'SessionObject', useSQLite: true } },
          serviceBindings: { LAKE: { name: 'lake', entrypoint: 'Lake' } },
          // Sessions close 5 s after their last event: an anonymous one reaches D1 when it closes.
          bindings: { ...wrangler.vars, FLUSH_DELAY_S: '1', DEFAULT_SESSION_TIMEOUT_S: '5', ADMIN_TOKEN, LINK_SIGNING_KEY: 'bench-link-signing-key' },
          unsafeDirectSockets: [{ host: '127.0.0.1', port: 0 }],
        },
        { name: 'lake', modules: true, script: LAKE, compatibilityDate: wrangler.compatibilityDate, unsafeDirectSockets: [{ host: '127.0.0.1', port: 0 }] },
      ],
    }),
  );
  await mf.ready;
  const ours = String(await mf.unsafeGetDirectURL('ours'));
  const lakeUrl = String(await mf.unsafeGetDirectURL('lake'));
  const db = await mf.getD1Database('DB', 'ours');
  await applyMigrations(db);
  const res = await fetch(new URL('/api/v1/admin/sources', ours), {
    method: 'POST',
    headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
    body: JSON.stringify({ id: 'capacity-web', name: 'Capacity shop', kind: 'website', allowed_origins: [ORIGIN] }),
  });
  const source = await res.json();

  const sent = { events: 0, identified: 0 };
  const send = async (n) => {
    const identity =
      n % LOGIN_EVERY === 0 ? { customer: `cust-${n}`, hash: createHmac('sha256', source.identity_secret).update(`cust-${n}`).digest('hex') } : null;
    const events = visit(n, randomUUID(), identity);
    const r = await fetch(new URL('/t', ours), {
      method: 'POST',
      headers: { 'content-type': 'text/plain;charset=UTF-8', origin: ORIGIN, 'user-agent': CHROME, 'cf-connecting-ip': `10.0.${n % 250}.1` },
      body: JSON.stringify({ k: source.public_key, e: events }),
    });
    if (r.status !== 204) throw new Error(`beacon ${n}: ${r.status} ${await r.text()}`);
    sent.events += events.length;
    if (identity) sent.identified += 1;
  };
  for (let n = 0; n < SESSIONS; n += 20) await Promise.all(Array.from({ length: Math.min(20, SESSIONS - n) }, (_, i) => send(n + i)));
  log(`sent ${sent.events} events; waiting for D1 and the lake`);

  // D1 holds every session, and the events of the identified ones; the lake every event.
  const inD1Expected = sent.identified * EVENTS_PER_SESSION;
  const until = Date.now() + 180_000;
  let inD1 = 0;
  let sessionsInD1 = 0;
  let lake = { records: 0, bytes: 0 };
  while (Date.now() < until) {
    inD1 = (await db.prepare('SELECT count(*) AS n FROM web_events').first()).n;
    sessionsInD1 = (await db.prepare('SELECT count(*) AS n FROM sessions').first()).n;
    lake = await (await fetch(lakeUrl)).json();
    if (inD1 >= inD1Expected && sessionsInD1 >= SESSIONS && lake.records >= sent.events) break;
    await sleep(1000);
  }
  await mf.dispose();
  if (inD1 < inD1Expected || sessionsInD1 < SESSIONS) throw new Error(`D1 holds ${inD1} of ${inD1Expected} events, ${sessionsInD1} of ${SESSIONS} sessions`);

  const d1File = sqliteFiles(path.join(persist, 'd1')).find((f) => f.endsWith('.sqlite'));
  const sqlite = new DatabaseSync(d1File, { readOnly: true });
  // Every table and index, the primary keys' own indexes (sqlite_autoindex_*) included.
  const pages = sqlite
    .prepare("SELECT name, sum(pgsize) AS bytes FROM dbstat WHERE name NOT IN ('sqlite_schema', 'sqlite_sequence', 'sqlite_stat1') GROUP BY name")
    .all();
  sqlite.close();
  const tableOf = Object.fromEntries(
    new DatabaseSync(d1File, { readOnly: true })
      .prepare("SELECT name, tbl_name FROM sqlite_schema WHERE type IN ('table', 'index')")
      .all()
      .map((r) => [r.name, r.tbl_name]),
  );
  const byTable = (table) => pages.filter((p) => tableOf[p.name] === table).reduce((n, p) => n + p.bytes, 0);
  const d1EventBytes = byTable('web_events') / inD1;
  const d1SessionBytes = byTable('sessions') / sessionsInD1;
  // The issue's measure: all of D1's sessions and events, per event accepted.
  const d1BytesPerAccepted = (byTable('web_events') + byTable('sessions')) / sent.events;
  const trim = measureTrim(d1File, 'capacity-web', inD1);
  const objectBytes = sqliteFiles(path.join(persist, 'do')).reduce((n, f) => n + pageBytes(f), 0) / SESSIONS;
  const lakeBytes = lake.bytes / lake.records;
  if (process.env.BENCH_CAP_KEEP) log(`kept ${persist}`);
  else rmSync(persist, { recursive: true, force: true });
  rmSync(bundleDir, { recursive: true, force: true });

  // The model: D1 holds every session for its retention, and an identified session's events for
  // D1_EVENT_DAYS (docs/scaling.md); an anonymous session's events stay in its object and the lake.
  const m = { ...MODEL, d1EventDays: Number(wrangler.vars.D1_EVENT_DAYS) };
  const perDay = {
    anonymousSessions: m.sessionsPerDay * (1 - m.identifiedShare),
    identifiedSessions: m.sessionsPerDay * m.identifiedShare,
    identifiedEvents: m.sessionsPerDay * m.identifiedShare * m.eventsPerSession,
  };
  const bytes = {
    anonymousSessions: perDay.anonymousSessions * m.anonymousDays * d1SessionBytes,
    identifiedSessions: perDay.identifiedSessions * 365 * m.identifiedYears * d1SessionBytes,
    identifiedEvents: perDay.identifiedEvents * m.d1EventDays * d1EventBytes,
  };
  const totalBytes = bytes.anonymousSessions + bytes.identifiedSessions + bytes.identifiedEvents;
  // A stable hash spreads customers and sessions evenly; 20 % is left for the unevenness of big customers.
  const shards = Math.max(1, Math.ceil(totalBytes / (m.shardBytes * 0.8)));
  // A session writes D1 once per flush: with FLUSH_DELAY_S = 5 and a visitor acting every 30 s,
  // about once per event, plus once when it closes.
  const writesPerSecond = (m.sessionsPerDay * (m.eventsPerSession + 1) * m.peakOverAverage) / 86_400;
  // The trim must delete a shard's share of the events as fast as they arrive at the peak, 10 times over.
  const trimNeeded = (10 * (perDay.identifiedEvents * m.peakOverAverage)) / 86_400 / shards;
  const objectBytesTotal = m.sessionsPerDay * m.anonymousDays * objectBytes;
  const result = {
    measured: {
      sessions: SESSIONS,
      events: sent.events,
      events_in_d1: inD1,
      identified_sessions: sent.identified,
      d1_bytes_per_event_row: d1EventBytes,
      d1_bytes_per_session: d1SessionBytes,
      d1_bytes_per_accepted_event: d1BytesPerAccepted,
      d1_bytes_by_name: pages,
      trim_events_per_second: trim.perSecond,
      session_object_bytes_per_session: objectBytes,
      lake_bytes_per_event: lakeBytes,
    },
    model: {
      ...m,
      bytes,
      d1_bytes_total: totalBytes,
      shards,
      d1_bytes_per_shard: totalBytes / shards,
      d1_writes_per_second_peak: writesPerSecond,
      trim_needed_per_shard: trimNeeded,
    },
  };
  const dir = path.join(root, 'test/bench/results');
  mkdirSync(dir, { recursive: true });
  writeFileSync(path.join(dir, `capacity-${new Date().toISOString().replace(/[:.]/g, '-')}.json`), JSON.stringify(result, null, 2));

  const f = (n, d = 0) => n.toLocaleString('en', { maximumFractionDigits: d, minimumFractionDigits: d });
  const gb = (n) => `${f(n / 1e9, 1)} GB`;
  console.log(`\n### Capacity: bytes per tier (measured, ${f(SESSIONS)} tracker sessions of ${EVENTS_PER_SESSION} events, one in ${LOGIN_EVERY} identified)\n`);
  console.log('| tier | measured |\n|---|---:|');
  console.log(
    `| D1, per event accepted (all of D1's sessions and events over the ${f(sent.events)} events sent; target ≤ 300 B) | ${f(d1BytesPerAccepted)} B |`,
  );
  console.log(`| D1, per event row (an identified session's event, with its indexes) | ${f(d1EventBytes)} B |`);
  console.log(`| D1, per session (sessions row and its indexes) | ${f(d1SessionBytes)} B |`);
  console.log(`| session object, per session (the pages of its SQLite database) | ${f(objectBytes)} B |`);
  console.log(`| lake, per event (the JSON record sent) | ${f(lakeBytes)} B |`);
  console.log(`| D1 window trim, events deleted per second (its statement, on the D1 file) | ${f(trim.perSecond)} |`);
  console.log('\n| D1 table or index | bytes per event row |\n|---|---:|');
  for (const p of pages.filter((p) => tableOf[p.name] === 'web_events')) console.log(`| ${p.name} | ${f(p.bytes / inD1)} |`);
  console.log(
    `\n### Capacity: a store of ${f(m.sessionsPerDay)} sessions a day (${m.eventsPerSession} events each, ${f(m.identifiedShare * 100)} % identified)\n`,
  );
  console.log('| | |\n|---|---:|');
  console.log(`| anonymous sessions in D1 (${m.anonymousDays} days; their events are in their objects and the lake) | ${gb(bytes.anonymousSessions)} |`);
  console.log(`| identified sessions in D1 (${m.identifiedYears} years kept) | ${gb(bytes.identifiedSessions)} |`);
  console.log(`| identified sessions' events in D1 (D1_EVENT_DAYS = ${m.d1EventDays}) | ${gb(bytes.identifiedEvents)} |`);
  console.log(`| D1 in all | ${gb(totalBytes)} |`);
  console.log(`| shards (filled to 80 % of ${gb(m.shardBytes)}) | ${shards} |`);
  console.log(`| **per shard** | **${gb(totalBytes / shards)}** |`);
  console.log(`| D1 write transactions/s at the peak (${m.peakOverAverage}× the average; one per event and one per close) | ${f(writesPerSecond)} |`);
  console.log(`| per shard, against D1's ~${f(m.d1WritesPerSecond)}/s single writer | ${f(writesPerSecond / shards, 1)} |`);
  console.log(`| D1 window trim needed per shard (10× the peak arrival of events), events/s | ${f(trimNeeded, 1)} (measured ${f(trim.perSecond)}) |`);
  console.log(`| session objects (${m.anonymousDays} days of sessions at ${f(objectBytes / 1024, 1)} KB) | ${gb(objectBytesTotal)} |`);
  console.log(
    `| lake per year, at ${f(lakeBytes)} B per record (JSON, before Parquet compression) | ${gb(m.sessionsPerDay * m.eventsPerSession * 365 * lakeBytes)} |`,
  );
}

/**
 * The D1 window trim's own statement (src/storage/records.ts), timed on the D1 file (its bytes
 * already measured) until every event is gone: events deleted per second.
 */
function measureTrim(d1File, sourceId, events) {
  const db = new DatabaseSync(d1File);
  const trim = db.prepare('DELETE FROM web_events WHERE rowid IN (SELECT rowid FROM web_events WHERE source_id = ?1 AND occurred_at < ?2 LIMIT ?3)');
  const started = performance.now();
  let deleted = 0;
  for (;;) {
    const { changes } = trim.run(sourceId, Date.now() + 86_400_000, 5_000);
    deleted += Number(changes);
    if (Number(changes) < 5_000) break;
  }
  const seconds = (performance.now() - started) / 1000;
  db.close();
  if (deleted !== events) throw new Error(`trim deleted ${deleted} of ${events} events`);
  return { perSecond: deleted / seconds };
}

await main();
