// Console bench (issue 16): what the console costs the ingest path. In one workerd, in one run,
// beacon-1 against three things, round after round:
//
// - before: the worker as it was before the console (BENCH_BEFORE_REF, default the commit before
//   "Console groundwork"), bundled from a git worktree of it;
// - closed: this worker, nobody watching (it sends its counts to the source's monitor every 2 s);
// - watching: this worker with one console's WebSocket open on the source (every request's events
//   go to the monitor and out to the console).
//
// Reports events/s and CPU µs per event per round, and the medians' ratios to `before`. Timing
// swings on this shared machine: the rounds alternate (each starting with the next variant), and
// each variant has its own pool of sessions, so a swing or a growing session hits all three alike.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ADMIN_TOKEN, bundle, cpuSeconds, drain, load, log, ORIGIN, pinToLoadCore, root, startServer, wranglerConfig } from './harness.mjs';
import { byKey } from './scenarios.mjs';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const SECONDS = Number(process.env.BENCH_MAX_S ?? 4);
const POOL = 1000;
const git = (...args) => execFileSync('git', args, { cwd: root, encoding: 'utf8' }).trim();

function beforeRef() {
  if (process.env.BENCH_BEFORE_REF) return process.env.BENCH_BEFORE_REF;
  const groundwork = git('log', '--format=%H', '--grep', 'Console groundwork', '-n', '1');
  if (!groundwork) throw new Error('no "Console groundwork" commit: set BENCH_BEFORE_REF');
  return `${groundwork}^`;
}

/** The worker at `ref`, bundled from a worktree (its node_modules: ours). */
function bundleAt(ref) {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'we-before-'));
  git('worktree', 'add', '--detach', dir, ref);
  try {
    symlinkSync(path.join(root, 'node_modules'), path.join(dir, 'node_modules'));
    return bundle(dir);
  } finally {
    git('worktree', 'remove', '--force', dir);
    if (existsSync(dir)) rmSync(dir, { recursive: true, force: true });
  }
}

/** One console watching: the live WebSocket, with the admin token as its subprotocol. */
async function watch(url) {
  const bearer = Buffer.from(ADMIN_TOKEN).toString('base64url');
  const ws = new WebSocket(`${url.replace(/^http/, 'ws')}api/v1/sources/bench-web/live`, ['web-events', `bearer.${bearer}`]);
  let received = 0;
  ws.addEventListener('message', (m) => (received += JSON.parse(String(m.data)).items.length));
  await new Promise((resolve, reject) => {
    ws.addEventListener('open', resolve);
    ws.addEventListener('error', () => reject(new Error('the console WebSocket did not open')));
  });
  return { close: () => ws.close(), received: () => received };
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function main() {
  pinToLoadCore();
  const ref = beforeRef();
  log(`bundling this worker, and the one before the console (${git('rev-parse', '--short', ref)})`);
  const bundleDir = bundle();
  const beforeBundleDir = bundleAt(ref);
  const wrangler = await wranglerConfig();
  const persistDir = mkdtempSync(path.join(os.tmpdir(), 'we-bench-console-'));
  const server = await startServer({ ...wrangler, bundleDir, beforeBundleDir, persistDir, adminToken: ADMIN_TOKEN, origin: ORIGIN });
  const flushDelayS = Number(wrangler.vars.FLUSH_DELAY_S ?? 5);
  const beacon1 = byKey('beacon1');
  const targets = {
    before: { urls: { ours: server.urls.before }, sources: server.before.sources },
    closed: { urls: server.urls, sources: server.sources },
    watching: { urls: server.urls, sources: server.sources },
  };
  const results = { before: [], closed: [], watching: [] };
  try {
    // Each variant has its own pool of sessions (a session's events are scanned for repeats: the
    // pools grow alike), every one touched once first: first events are not what this measures.
    for (const name of Object.keys(targets))
      await load(targets[name], beacon1, POOL, { connections: 50, amount: POOL, sequential: true, idPrefix: `warm-${name}`, sessionPrefix: name });
    await drain(server.workerdPid, flushDelayS);
    for (let round = 0; round < ROUNDS; round++) {
      // Each round starts with the next variant: none always runs first, or last.
      const order = Object.entries(targets);
      for (const [name, target] of [...order.slice(round % 3), ...order.slice(0, round % 3)]) {
        const console_ = name === 'watching' ? await watch(server.urls.ours) : null;
        const cpu0 = cpuSeconds(server.workerdPid);
        const r = await load(target, beacon1, POOL, { connections: 50, duration: SECONDS, idPrefix: `r${round}-${name}`, sessionPrefix: name });
        const cpu = cpuSeconds(server.workerdPid) - cpu0;
        await drain(server.workerdPid, flushDelayS);
        console_?.close();
        const row = { events_per_s: r.events_per_s, cpu_us_per_event: (cpu / Math.max(1, r.ok)) * 1e6, shown: console_?.received() ?? null, ok: r.ok };
        results[name].push(row);
        log(
          `round ${round + 1} ${name}: ${row.events_per_s.toFixed(0)} events/s, ${row.cpu_us_per_event.toFixed(1)} µs CPU/event${row.shown !== null ? `, ${row.shown} shown live` : ''}`,
        );
      }
    }
  } finally {
    await server.stop();
    rmSync(persistDir, { recursive: true, force: true });
  }
  const eps = (n) => median(results[n].map((r) => r.events_per_s));
  const cpu = (n) => median(results[n].map((r) => r.cpu_us_per_event));
  console.log('\n### Console: beacon-1 with nobody watching and with one console, against the worker before it (one run)\n');
  console.log('| | events/s (median) | × before | CPU µs/event (median) | × before |');
  console.log('|---|---:|---:|---:|---:|');
  for (const n of ['before', 'closed', 'watching'])
    console.log(`| ${n} | ${eps(n).toFixed(0)} | ${(eps(n) / eps('before')).toFixed(2)} | ${cpu(n).toFixed(1)} | ${(cpu(n) / cpu('before')).toFixed(2)} |`);
  console.log(`\nRounds: ${ROUNDS} of ${SECONDS} s each, alternating; before = ${git('rev-parse', '--short', ref)}.`);
}

await main();
