// The workerd side of `npm run bench`: one Miniflare (one workerd process) running floor 0, floor 1
// and our bundled worker, each on its own direct socket (no Miniflare entry worker or dev proxy in
// the request path). Started by ingest.mjs under `taskset -c 0`, so workerd, its child, inherits
// core 0. Prints one `READY {...}` line, then answers JSON-line commands on stdin until stdin ends.
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { convertV4MiniflareOptions, Miniflare } from 'miniflare';
import { applyMigrations } from './harness.mjs';

const config = JSON.parse(process.argv[2]);
const floors = path.join(import.meta.dirname, 'floors');
const direct = [{ host: '127.0.0.1', port: 0 }];

/**
 * A build of the worker: ours, or the one it is compared with (`config.beforeBundleDir`: the console bench's build
 * before a change, compare.mjs's other commit), with that build's own settings where given (`config.before`).
 */
const worker = (name, bundleDir, db, objects, own = {}) => ({
  name,
  modules: true,
  modulesRoot: bundleDir,
  scriptPath: path.join(bundleDir, 'index.js'),
  compatibilityDate: own.compatibilityDate ?? config.compatibilityDate,
  compatibilityFlags: own.compatibilityFlags ?? config.compatibilityFlags,
  d1Databases: { DB: db },
  durableObjects: Object.fromEntries(objects.map(([binding, className]) => [binding, { className, useSQLite: true, unsafePreventEviction: true }])),
  bindings: { ...(own.vars ?? config.vars), ADMIN_TOKEN: config.adminToken, LINK_SIGNING_KEY: 'bench-link-signing-key' },
  unsafeDirectSockets: direct,
});
const OBJECTS = [
  ['SESSIONS', 'SessionObject'],
  ['VISITORS', 'VisitorObject'],
  ['MONITORS', 'SourceMonitor'],
];

const mf = new Miniflare(
  convertV4MiniflareOptions({
    resourcePersistencePath: config.persistDir,
    logRequests: false,
    ...(config.inspectorPort ? { inspectorPort: config.inspectorPort } : {}),
    workers: [
      worker('ours', config.bundleDir, 'bench', config.objects ?? OBJECTS),
      ...(config.beforeBundleDir ? [worker('before', config.beforeBundleDir, 'bench-before', config.beforeObjects ?? OBJECTS.slice(0, 1), config.before)] : []),
      { name: 'floor0', modules: true, scriptPath: path.join(floors, 'floor0.js'), compatibilityDate: config.compatibilityDate, unsafeDirectSockets: direct },
      {
        name: 'floor1',
        modules: true,
        scriptPath: path.join(floors, 'floor1.js'),
        compatibilityDate: config.compatibilityDate,
        durableObjects: { FLOOR_SESSIONS: { className: 'FloorSession', useSQLite: true, unsafePreventEviction: true } },
        unsafeDirectSockets: direct,
      },
    ],
  }),
);

/** workerd is a child of this process (Miniflare spawns it): its pid, to read its CPU time. */
function workerdPid() {
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const [, comm, rest] = stat.match(/^\d+ \((.*)\) (.*)$/s);
      const ppid = Number(rest.split(' ')[1]);
      if (ppid === process.pid && comm.startsWith('workerd')) return Number(entry);
    } catch {
      // the process ended while we looked
    }
  }
  return null;
}

async function createSource(base, body) {
  const res = await fetch(new URL('/api/v1/admin/sources', base), {
    method: 'POST',
    headers: { authorization: `Bearer ${config.adminToken}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  if (res.status !== 201) throw new Error(`creating source ${body.id}: ${res.status} ${await res.text()}`);
  const source = await res.json();
  return { id: source.id, public_key: source.public_key, secret_key: source.secret_key };
}

const commands = {
  /**
   * How many events of one session (`<source id>,<session id>`) D1's row counts (0 before its
   * first flush): found by its key's index, so the poll does not slow as the table grows.
   */
  async d1session(arg) {
    const [sourceId, sessionId] = arg.split(',');
    const db = await mf.getD1Database('DB', 'ours');
    const row = await db.prepare('SELECT event_count AS n FROM sessions WHERE source_id = ? AND session_id = ?').bind(sourceId, sessionId).first();
    return { n: row?.n ?? 0 };
  },
};

try {
  await mf.ready;
  const urls = {
    floor0: String(await mf.unsafeGetDirectURL('floor0')),
    floor1: String(await mf.unsafeGetDirectURL('floor1')),
    ours: String(await mf.unsafeGetDirectURL('ours')),
    ...(config.beforeBundleDir ? { before: String(await mf.unsafeGetDirectURL('before')) } : {}),
  };
  const origin = config.origin;
  const sourcesOf = async (name, migrationsDir) => {
    await applyMigrations(await mf.getD1Database('DB', name), migrationsDir);
    return {
      website: await createSource(urls[name], { id: 'bench-web', name: 'Bench shop', kind: 'website', allowed_origins: [origin] }),
      mobile_app: await createSource(urls[name], { id: 'bench-app', name: 'Bench app', kind: 'mobile_app' }),
      server: await createSource(urls[name], { id: 'bench-partner', name: 'Bench partner', kind: 'server' }),
    };
  };
  const sources = await sourcesOf('ours', config.migrationsDir);
  const before = config.beforeBundleDir ? { before: { sources: await sourcesOf('before', config.before?.migrationsDir) } } : {};
  process.stdout.write(`READY ${JSON.stringify({ urls, sources, ...before, workerdPid: workerdPid() })}\n`);
} catch (error) {
  console.error(error);
  await mf.dispose().catch(() => {});
  process.exit(1);
}

const lines = createInterface({ input: process.stdin });
lines.on('line', async (line) => {
  const { id, cmd } = JSON.parse(line);
  const [name, arg] = cmd.split(':');
  try {
    process.stdout.write(`REPLY ${JSON.stringify({ id, ok: true, result: await commands[name](arg) })}\n`);
  } catch (error) {
    process.stdout.write(`REPLY ${JSON.stringify({ id, ok: false, error: String(error) })}\n`);
  }
});
lines.on('close', async () => {
  await mf.dispose();
  process.exit(0);
});
