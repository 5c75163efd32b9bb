// Segment speed over 1,000,000 synthetic events and 50,000 customers in local D1 (issue 7):
// preview and full computation of three representative segments through the worker's API,
// beside a plain SELECT count(*) over the same events (the floor). Run: npm run bench:segments
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { convertV4MiniflareOptions, Miniflare } from 'miniflare';
import { applyMigrations } from './harness.mjs';

const EVENTS = Number(process.env.SEGMENT_BENCH_EVENTS ?? 1_000_000);
const CUSTOMERS = Number(process.env.SEGMENT_BENCH_CUSTOMERS ?? 50_000);
const CHUNK = 100_000;
const REPEAT = 3;
const ADMIN_TOKEN = 'bench-admin-token';
const root = path.resolve(import.meta.dirname, '../..');

const SEGMENTS = {
  'viewed ≥2 times in 30 days': { event: 'product_view', within_days: 30, count: { gte: 2 } },
  'cart abandoners (14 days)': { all: [{ event: 'container_add', within_days: 14 }, { not: { event: 'order_complete', within_days: 14 } }] },
  'big spenders gone 30 days': {
    all: [
      { event: 'order_complete', where: [{ field: 'total', op: 'gt', value: 200 }] },
      { event: 'page_view', last_before_days: 30 },
    ],
  },
};

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
async function timed(fn) {
  const start = performance.now();
  const result = await fn();
  return { ms: performance.now() - start, result };
}

function bundle() {
  const out = mkdtempSync(path.join(tmpdir(), 'we-bundle-'));
  execFileSync('npx', ['wrangler', 'deploy', '--dry-run', '--outdir', out], {
    cwd: root,
    stdio: 'ignore',
    env: { ...process.env, WRANGLER_SEND_METRICS: 'false' },
  });
  return out;
}

async function seed(db, sourceId) {
  const day = 86_400_000;
  const now = Date.now();
  // Each customer gets blocks of 20 consecutive events, one of every kind, at random times in the last 90 days.
  // Names by share: page_view 40 %, product_view 30 %, container_add 10 %, search 10 %, order_complete 5 %, user_login 5 %.
  const name = `CASE WHEN i % 20 < 8 THEN 'page_view' WHEN i % 20 < 14 THEN 'product_view' WHEN i % 20 < 16 THEN 'container_add'
    WHEN i % 20 < 18 THEN 'search' WHEN i % 20 = 18 THEN 'order_complete' ELSE 'user_login' END`;
  const context = `CASE WHEN i % 20 BETWEEN 8 AND 15 THEN json_object('type', 'product', 'id', 'p' || (i % 500), 'price', (i * 7) % 300)
    WHEN i % 20 = 18 THEN json_object('type', 'order', 'id', 'o' || i, 'total', (i * 13) % 500) ELSE NULL END`;
  // Sessions first: an event's id is its session's key and its arrival (k-th block of 20, j-th event: 20k + j + 1).
  await db
    .prepare(
      `WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < ?2 - 1)
       INSERT INTO sessions (source_id, session_id, channel, customer_id, status, started_at, last_event_at, event_count)
       SELECT ?1, 's' || i, 'api', printf('c%06d', i), 'closed', ?3, ?3, 20 FROM n`,
    )
    .bind(sourceId, CUSTOMERS, new Date(now).toISOString())
    .run();
  for (let from = 0; from < EVENTS; from += CHUNK) {
    await db
      .prepare(
        `WITH RECURSIVE n(i) AS (SELECT ?1 UNION ALL SELECT i + 1 FROM n WHERE i < ?2 - 1)
         INSERT INTO web_events (id, source_id, event_id, channel, customer_id, name, occurred_at, received_at, context)
         SELECT ((SELECT key FROM sessions WHERE source_id = ?3 AND session_id = 's' || (i / 20 % ?4)) << 20) | ((i / (20 * ?4)) * 20 + i % 20 + 1),
                ?3, 'e' || i, 'api', printf('c%06d', i / 20 % ?4), ${name}, ?5 - abs(random()) % (90 * ?6), ?5, ${context} FROM n`,
      )
      .bind(from, Math.min(from + CHUNK, EVENTS), sourceId, CUSTOMERS, now, day)
      .run();
  }
}

async function main() {
  const bundleDir = bundle();
  const persist = mkdtempSync(path.join(tmpdir(), 'we-seg-'));
  const mf = new Miniflare(
    convertV4MiniflareOptions({
      modules: true,
      modulesRoot: bundleDir,
      scriptPath: path.join(bundleDir, 'index.js'),
      compatibilityDate: '2026-11-01',
      d1Databases: { DB: 'bench' },
      d1Persist: persist,
      durableObjects: { SESSIONS: { className: 'SessionObject', useSQLite: true } },
      durableObjectsPersist: persist,
      bindings: { ADMIN_TOKEN, LINK_SIGNING_KEY: 'bench', ANON_RETENTION_DAYS: '60', DEFAULT_SESSION_TIMEOUT_S: '3600', FLUSH_DELAY_S: '5' },
    }),
  );
  try {
    const db = await mf.getD1Database('DB');
    await applyMigrations(db);
    const seeded = await timed(() => seed(db, 'bench'));
    console.error(`seeded ${EVENTS} events, ${CUSTOMERS} customers in ${(seeded.ms / 1000).toFixed(1)} s`);

    const api = (p, body) =>
      mf.dispatchFetch(`http://bench${p}`, {
        method: body ? 'POST' : 'GET',
        headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
        body: body && JSON.stringify(body),
      });
    const floor = [];
    const rows = [];
    for (let r = 0; r < REPEAT; r++) floor.push((await timed(() => db.prepare('SELECT count(*) AS n FROM web_events').first())).ms);
    for (const [label, definition] of Object.entries(SEGMENTS)) {
      const preview = [];
      const full = [];
      let count = 0;
      for (let r = 0; r < REPEAT; r++) {
        const p = await timed(async () => (await api('/api/v1/segments/preview', { definition })).json());
        preview.push(p.ms);
        count = p.result.count;
        const f = await timed(async () => (await api('/api/v1/segments', { name: label, definition })).json());
        full.push(f.ms);
      }
      rows.push({ label, count, preview_ms: median(preview), full_ms: median(full) });
    }
    const floorMs = median(floor);
    console.log(`\nSegments over ${EVENTS.toLocaleString('en')} events, ${CUSTOMERS.toLocaleString('en')} customers (local D1, medians of ${REPEAT})\n`);
    console.log('| segment | members | preview ms | × floor | full computation ms | × floor |');
    console.log('|---|---:|---:|---:|---:|---:|');
    console.log(`| floor: SELECT count(*) FROM web_events | – | ${floorMs.toFixed(0)} | 1.0 | – | – |`);
    for (const r of rows) {
      console.log(
        `| ${r.label} | ${r.count} | ${r.preview_ms.toFixed(0)} | ${(r.preview_ms / floorMs).toFixed(1)} | ${r.full_ms.toFixed(0)} | ${(r.full_ms / floorMs).toFixed(1)} |`,
      );
    }
    return { events: EVENTS, customers: CUSTOMERS, floor_ms: floorMs, segments: rows };
  } finally {
    await mf.dispose();
    rmSync(persist, { recursive: true, force: true });
    rmSync(bundleDir, { recursive: true, force: true });
  }
}

await main();
