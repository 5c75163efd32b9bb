// Cost (issue 14): the billable units of an event, counted by the runtime, per scenario, and what
// they cost at list prices (test/bench/prices.mjs). Run: npm run bench:cost (a minute or two).
//
// - Runs the bundled worker through test/bench/counting.js (the worker and its session object,
//   with counters around the bindings: D1's meta.rows_written / rows_read, the object's SQL
//   cursors' rowsWritten / rowsRead, requests, RPC calls, alarm runs, queue messages, lake
//   records) in Miniflare, with two D1 shards and a lake stand-in.
// - Each scenario runs on a fresh source, from its first request until every session is closed
//   and written everywhere, then reads the counters. Sessions close 2 s after their last event
//   (DEFAULT_SESSION_TIMEOUT_S) and flush at once (FLUSH_DELAY_S = 0), so each event of a
//   session sent 150 ms apart gets its own flush, as events 30 s apart do with the default 5 s.
import { createHmac, randomUUID } from 'node:crypto';
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { convertV4MiniflareOptions, Miniflare } from 'miniflare';
import { ADMIN_TOKEN, applyMigrations, bundle, log, ORIGIN, root, wranglerConfig } from './harness.mjs';
import { HOSTED, PRICES } from './prices.mjs';
import { sampleEvent, toWire } from './sample-event.mjs';

const SESSIONS = Number(process.env.BENCH_COST_SESSIONS ?? 20);
const CHROME = 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.0.0 Safari/537.36';
const LAKE = `
import { WorkerEntrypoint } from 'cloudflare:workers';
export class Lake extends WorkerEntrypoint { async send() {} }
export default { fetch: () => new Response(null, { status: 404 }) };
`;

const events = (n, session, from = 0) =>
  Array.from({ length: n }, (_, i) => ({ ...sampleEvent(from + i, session, randomUUID(), new Date().toISOString()), seq: from + i + 1 }));

/** Each scenario: a source kind, and how one session's traffic goes (requests, each made as it is sent, in order). */
const SCENARIOS = [
  { key: 'beacon1', label: 'tracker beacon, 1 event (a session of one)', kind: 'website', requests: (s, c) => [() => beacon(c, events(1, s))] },
  { key: 'beacon20', label: 'tracker beacon, 20 events', kind: 'website', requests: (s, c) => [() => beacon(c, events(20, s))] },
  {
    key: 'rest100',
    label: 'REST batch, 100 events (10 sessions of 10)',
    kind: 'server',
    sessionsPer: 10,
    requests: (ss, c) => [
      () =>
        rest(
          c,
          ss.flatMap((s) => events(10, s)),
        ),
    ],
  },
  { key: 'sdk20', label: 'SDK batch, 20 events', kind: 'mobile_app', requests: (s, c) => [() => sdk(c, events(20, s))] },
  // analytics-node's batch: one visitor's messages, no session id (the collector makes it)
  { key: 'segment20', label: 'Segment batch, 20 messages (collector-made session)', kind: 'server', requests: (s, c) => [() => segment(c, s, 20)] },
  {
    key: 'anon10',
    label: 'anonymous session, 10 beacons of 1 event',
    kind: 'website',
    requests: (s, c) => Array.from({ length: 10 }, (_, i) => () => beacon(c, events(1, s, i))),
  },
  {
    key: 'login10',
    label: 'session of 10 beacons, a login in the middle',
    kind: 'website',
    requests: (s, c) =>
      Array.from({ length: 10 }, (_, i) => () => {
        const [e] = events(1, s, i);
        if (i !== 4) return beacon(c, [e]);
        const customer = `cust-${s}`;
        return beacon(c, [{ ...e, name: 'user_login', context: undefined, params: undefined, customer_id: customer, customer_hash: hash(c, customer) }]);
      }),
  },
];

const hash = (c, customer) => createHmac('sha256', c.source.identity_secret).update(customer).digest('hex');
const beacon = (c, list) => ({
  path: '/t',
  headers: { 'content-type': 'text/plain;charset=UTF-8', origin: ORIGIN, 'user-agent': CHROME },
  body: JSON.stringify({
    k: c.source.public_key,
    e: list.map((e) => ({ ...toWire(e), ...(e.customer_id ? { cu: e.customer_id, ch: e.customer_hash } : {}) })),
  }),
  events: list.length,
});
const rest = (c, list) => ({
  path: '/api/v1/web-events',
  headers: { 'content-type': 'application/json', authorization: `Bearer ${c.source.secret_key}` },
  body: JSON.stringify({ events: list }),
  events: list.length,
});
const segment = (c, visitor, n) => ({
  path: '/v1/batch',
  headers: { 'content-type': 'application/json', authorization: `Basic ${btoa(`${c.source.secret_key}:`)}` },
  body: JSON.stringify({
    batch: Array.from({ length: n }, (_, i) => ({
      type: 'track',
      event: 'Product Viewed',
      anonymousId: visitor,
      messageId: randomUUID(),
      timestamp: new Date().toISOString(),
      properties: { product_id: `sku-${i}`, name: 'Mug', price: 9.5, currency: 'EUR' },
    })),
    sentAt: new Date().toISOString(),
  }),
  events: n,
});
const sdk = (c, list) => ({
  path: '/v1/sdk/events',
  headers: { 'content-type': 'application/json', 'x-source-key': c.source.public_key },
  body: JSON.stringify({ device: { platform: 'ios', app_version: '3.2.1' }, events: list }),
  events: list.length,
});

async function main() {
  const bundleDir = bundle();
  copyFileSync(path.join(import.meta.dirname, 'counting.js'), path.join(bundleDir, 'counting.js'));
  const wrangler = await wranglerConfig();
  const persist = mkdtempSync(path.join(tmpdir(), 'we-cost-'));
  const mf = new Miniflare(
    convertV4MiniflareOptions({
      resourcePersistencePath: persist,
      workers: [
        {
          name: 'ours',
          // The entry first: counting.js imports the bundle.
          modules: ['counting.js', 'index.js'].map((file) => ({ type: 'ESModule', path: path.join(bundleDir, file) })),
          modulesRoot: bundleDir,
          compatibilityDate: wrangler.compatibilityDate,
          compatibilityFlags: wrangler.compatibilityFlags,
          d1Databases: { DB: 'cost-0', DB_1: 'cost-1' },
          durableObjects: { SESSIONS: { className: 'SessionObject', useSQLite: true }, VISITORS: { className: 'VisitorObject', useSQLite: true } },
          serviceBindings: { LAKE: { name: 'lake', entrypoint: 'Lake' }, LAKE_SESSIONS: { name: 'lake', entrypoint: 'Lake' } },
          bindings: {
            ...wrangler.vars,
            FLUSH_DELAY_S: '0',
            DEFAULT_SESSION_TIMEOUT_S: '2',
            ADMIN_TOKEN,
            LINK_SIGNING_KEY: 'bench-link-signing-key',
            COST_TRACE: process.env.COST_TRACE ?? '',
          },
          unsafeDirectSockets: [{ host: '127.0.0.1', port: 0 }],
        },
        { name: 'lake', modules: true, script: LAKE, compatibilityDate: wrangler.compatibilityDate },
      ],
    }),
  );
  await mf.ready;
  const url = String(await mf.unsafeGetDirectURL('ours'));
  const shards = [await mf.getD1Database('DB', 'ours'), await mf.getD1Database('DB_1', 'ours')];
  for (const db of shards) await applyMigrations(db);
  const call = (p, init) => fetch(new URL(p, url), init);
  const units = async () => (await call('/__units')).json();

  const results = [];
  // BENCH_ONLY=beacon1,login10: these scenarios alone.
  const only = process.env.BENCH_ONLY?.split(',');
  for (const scenario of SCENARIOS.filter((x) => !only || only.includes(x.key))) {
    const res = await call('/api/v1/admin/sources', {
      method: 'POST',
      headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ id: `cost-${scenario.key}`, name: scenario.label, kind: scenario.kind, allowed_origins: [ORIGIN] }),
    });
    const c = { source: await res.json() };
    await sleep(300);
    await units(); // from here on, this scenario's
    let sent = 0;
    let closedWanted = 0;
    const per = scenario.sessionsPer ?? 1;
    await Promise.all(
      Array.from({ length: SESSIONS / per }, async (_, n) => {
        const sessions = Array.from({ length: per }, (_, j) => `${scenario.key}-${n}-${j}`);
        closedWanted += sessions.length;
        for (const request of scenario.requests(per === 1 ? sessions[0] : sessions, c)) {
          // Each request is made when it is sent: its events occur then, as a visitor's do (a
          // session closes DEFAULT_SESSION_TIMEOUT_S after its last event's time).
          const r = request();
          const answer = await call(r.path, { method: 'POST', headers: r.headers, body: r.body });
          if (answer.status >= 300) throw new Error(`${scenario.key}: ${answer.status} ${await answer.text()}`);
          sent += r.events;
          await sleep(150);
        }
      }),
    );
    // Every session closed and in D1 (its last write done: nothing changes for a second).
    const until = Date.now() + 60_000;
    for (;;) {
      let closed = 0;
      for (const db of shards)
        closed += (await db.prepare("SELECT count(*) AS n FROM sessions WHERE source_id = ? AND status = 'closed'").bind(c.source.id).first()).n;
      if (closed >= closedWanted) break;
      if (Date.now() > until) throw new Error(`${scenario.key}: ${closed} of ${closedWanted} sessions closed`);
      await sleep(250);
    }
    await sleep(1500);
    const u = await units();
    results.push({ scenario, events: sent, units: u });
    log(`${scenario.key}: ${sent} events`, JSON.stringify(u));
  }
  await mf.dispose();
  rmSync(persist, { recursive: true, force: true });
  rmSync(bundleDir, { recursive: true, force: true });
  report(results);
}

/** Per event: each unit, and its price at list prices. */
function priced(r) {
  const e = r.events;
  const u = r.units;
  const per = {
    worker_requests: (u.worker_requests + u.queue_invocations) / e,
    do_requests: (u.do_rpc_calls + u.do_alarm_runs) / e,
    do_rows_written: (u.do_rows_written + u.do_set_alarm) / e, // a setAlarm() is billed as a row written
    do_rows_read: u.do_rows_read / e,
    d1_rows_written: u.d1_rows_written / e,
    d1_rows_read: u.d1_rows_read / e,
    queue_operations: (u.queue_messages * 3) / e, // a message is written, read and deleted
    lake_records: (u.lake_records + u.lake_session_records) / e,
    lake_gb: u.lake_bytes / e / 1e9,
  };
  const million = (unit) => per[unit] * PRICES[unit].usd_per_million;
  const dollars =
    million('worker_requests') +
    million('do_requests') +
    million('do_rows_written') +
    million('do_rows_read') +
    million('d1_rows_written') +
    million('d1_rows_read') +
    million('queue_operations') +
    per.lake_gb * 1e6 * PRICES.lake_gb.usd;
  return { per, dollars };
}

function report(results) {
  const f = (n, d = 2) => n.toLocaleString('en', { maximumFractionDigits: d, minimumFractionDigits: d });
  const rows = results.map((r) => ({ r, ...priced(r) }));
  const dir = path.join(root, 'test/bench/results');
  mkdirSync(dir, { recursive: true });
  writeFileSync(
    path.join(dir, `cost-${new Date().toISOString().replace(/[:.]/g, '-')}.json`),
    JSON.stringify(
      rows.map(({ r, per, dollars }) => ({ scenario: r.scenario.key, events: r.events, units: r.units, per_event: per, usd_per_million_events: dollars })),
      null,
      2,
    ),
  );
  console.log('\n### Cost: billable units per event, counted by the runtime\n');
  console.log(
    '| scenario | events | Worker requests | DO requests | DO rows written | DO rows read | D1 rows written | D1 rows read | queue ops | lake records | lake bytes | $ per million events |',
  );
  console.log('|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
  for (const { r, per, dollars } of rows)
    console.log(
      `| ${r.scenario.label} | ${r.events} | ${f(per.worker_requests)} | ${f(per.do_requests)} | ${f(per.do_rows_written)} | ${f(per.do_rows_read)} | ${f(per.d1_rows_written)} | ${f(per.d1_rows_read)} | ${f(per.queue_operations)} | ${f(per.lake_records)} | ${f(per.lake_gb * 1e9, 0)} | ${f(dollars)} |`,
    );
  console.log('\n(DO rows written include each setAlarm(), billed as one; DO requests are RPC calls and alarm runs.)');

  // A month of a store of a million sessions a day, as the login10 and anon10 sessions (5 % identified),
  // with the storage the capacity bench measured.
  const login = rows.find((x) => x.r.scenario.key === 'login10');
  const anon = rows.find((x) => x.r.scenario.key === 'anon10');
  const capacity = latestCapacity();
  if (login && anon && capacity) {
    const eventsPerMonth = 1_000_000 * 10 * 30;
    const perEvent = 0.05 * login.dollars + 0.95 * anon.dollars;
    const requests = (eventsPerMonth * perEvent) / 1e6;
    const gb = capacity.model.d1_bytes_total / 1e9;
    const objectGb = (1_000_000 * 60 * capacity.measured.session_object_bytes_per_session) / 1e9;
    const lakeGbPerYear = (eventsPerMonth * 12 * capacity.measured.lake_bytes_per_event) / 1e9 / 5; // Parquet: about 5× smaller than JSON
    const storage = gb * PRICES.d1_storage_gb_month.usd + objectGb * PRICES.do_storage_gb_month.usd + lakeGbPerYear * PRICES.r2_storage_gb_month.usd;
    console.log('\n### Cost: a store of 1,000,000 sessions a day (10 events each, 5 % identified), per month\n');
    console.log('| | $ per month |\n|---|---:|');
    console.log(`| requests, rows and queue operations (${f(eventsPerMonth / 1e6, 0)} M events at ${f(perEvent, 3)} $/M) | ${f(requests)} |`);
    console.log(`| D1 storage (${f(gb, 0)} GB, capacity model) | ${f(gb * PRICES.d1_storage_gb_month.usd)} |`);
    console.log(`| Durable Object storage (60 days of sessions, ${f(objectGb, 0)} GB) | ${f(objectGb * PRICES.do_storage_gb_month.usd)} |`);
    console.log(
      `| R2 lake after a year (${f(lakeGbPerYear, 0)} GB of Parquet, assumed 5× smaller than the JSON sent) | ${f(lakeGbPerYear * PRICES.r2_storage_gb_month.usd)} |`,
    );
    console.log(`| **in all** | **${f(requests + storage)}** |`);
    console.log(`| per million events | ${f(((requests + storage) / eventsPerMonth) * 1e6, 3)} |`);
  }
  console.log('\n### Hosted collectors, as published (per million events)\n');
  console.log('| collector | price | per million events | source |\n|---|---|---:|---|');
  for (const h of HOSTED)
    console.log(`| ${h.name} | ${h.price} | ${h.per_million_events === null ? 'not published' : f(h.per_million_events)} | ${h.source} (${h.date}) |`);
  console.log('\nList prices used (test/bench/prices.mjs):');
  for (const [unit, p] of Object.entries(PRICES))
    console.log(`- ${unit}: $${p.usd_per_million ?? p.usd}${p.usd_per_million === undefined ? '' : ' per million'} (${p.source}; ${p.date})`);
}

/** The newest capacity bench result, for the storage figures. */
function latestCapacity() {
  const dir = path.join(root, 'test/bench/results');
  const files = readdirSync(dir)
    .filter((f) => f.startsWith('capacity-'))
    .sort();
  if (!files.length) return null;
  const result = JSON.parse(readFileSync(path.join(dir, files.at(-1)), 'utf8'));
  return result.model?.d1_bytes_total ? result : null;
}

await main();
