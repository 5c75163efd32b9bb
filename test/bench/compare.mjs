// Two builds of the worker back to back: is this one's CPU per event no worse than another commit's?
// Run: npm run bench -- --against <commit>     (or npm run bench:compare -- <commit>)
//      npm run bench -- --against HEAD --now HEAD   (A/A: one commit against itself; see below)
//
// - "now" is this checkout's worker (working tree, uncommitted changes included) or, with
//   --now <commit>, that commit's; "base" is <commit>'s, bundled from a temporary git worktree.
//   Both run in one workerd (server.mjs) beside the floors, each with its own D1 and objects.
// - BENCH_ROUNDS rounds (9); in each, for every scenario, its floor, now and base take turns at the
//   maximum in slices of about BENCH_SLICE_S (0.5) seconds, BENCH_MAX_S (3) seconds each in all, in
//   one load process (alternate.mjs): A B C, C B A, … so a burst from other processes falls on every
//   side alike. Each round gives the ratio now / base of workerd's CPU per event (and each's ratio
//   to the floor); the report gives their medians with IQR, min–max and the median's 95 % interval.
//   Local workerd has no per-request CPU (tail events, `tails` and `streamingTails`, report cpuTime
//   0), so the CPU is workerd's, from /proc, over each slice until workerd is idle again.
// - The request path only: both builds' FLUSH_DELAY_S is set past the bench, as a flush would land
//   in whichever side's slice comes 5 s later. The flush is the ingest bench's "+ D1 flush".
// - When both builds are the same bytes (an A/A run) the spread is written down as what this
//   machine can tell apart (`detectable`); later comparisons quote the newest A/A.
//
// Environment: BENCH_ROUNDS (9), BENCH_MAX_S (3), BENCH_SLICE_S (0.5), BENCH_POOL (1000), BENCH_ONLY (scenario keys).
import { execFileSync, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import {
  ADMIN_TOKEN,
  bundle,
  bundleAt,
  clockTicks,
  load,
  log,
  ORIGIN,
  persistDirFor,
  pinToLoadCore,
  root,
  settle,
  startServer,
  wranglerConfig,
} from './harness.mjs';
import { detectable, formatShare, formatSpread, latestAA, resultsDir, spread } from './ratios.mjs';
import { byKey, SCENARIOS } from './scenarios.mjs';

const { values, positionals } = parseArgs({ options: { against: { type: 'string' }, now: { type: 'string' } }, allowPositionals: true });
const against = values.against ?? positionals[0];
if (!against) throw new Error('usage: compare.mjs --against <commit> [--now <commit>]');
const SETTINGS = {
  rounds: Number(process.env.BENCH_ROUNDS ?? 9),
  maxS: Number(process.env.BENCH_MAX_S ?? 3),
  sliceS: Number(process.env.BENCH_SLICE_S ?? 0.5),
  pool: Number(process.env.BENCH_POOL ?? 1000),
  connections: 50,
};
SETTINGS.slices = Math.max(1, Math.round(SETTINGS.maxS / SETTINGS.sliceS));
const FLUSH_DELAY_S = 3600;
const git = (...args) => execFileSync('git', args, { cwd: root, encoding: 'utf8' }).trim();

/** A digest of a bundle's code (its README carries the build time; source maps, the checkout's paths). */
function digest(dir) {
  const h = createHash('sha256');
  for (const f of readdirSync(dir, { recursive: true })
    .filter((f) => !/\.(map|md)$/.test(f))
    .sort()) {
    try {
      h.update(f).update(readFileSync(path.join(dir, f)));
    } catch {
      // a directory
    }
  }
  return h.digest('hex');
}

async function thisCheckout() {
  const dirty = git('status', '--porcelain', '--', 'src', 'wrangler.toml', 'migrations') !== '';
  return { commit: git('rev-parse', 'HEAD'), dirty, bundleDir: bundle(), ...(await wranglerConfig()) };
}

/** One round of one scenario: alternate.mjs in its own process, on the load core. */
const alternate = (opts) =>
  new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [path.join(import.meta.dirname, 'alternate.mjs'), JSON.stringify(opts)], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.on('exit', (code) => (code === 0 ? resolve(JSON.parse(out.trim().split('\n').at(-1))) : reject(new Error(`alternate.mjs exited with ${code}`))));
  });

async function main() {
  pinToLoadCore();
  const startedAt = new Date();
  const only = process.env.BENCH_ONLY?.split(',');
  const scenarios = SCENARIOS.filter((s) => s.worker === 'ours' && s.available(root) && (only ? only.includes(s.key) : !s.optional));
  log(`bundling now (${values.now ?? 'this checkout'}) and base (${against})`);
  const now = values.now ? await bundleAt(values.now) : await thisCheckout();
  const base = await bundleAt(against);
  const aa = digest(now.bundleDir) === digest(base.bundleDir);
  const label = (b) => `${b.commit.slice(0, 8)}${b.dirty ? ' + uncommitted changes' : ''}`;
  log(`now ${label(now)}, base ${label(base)}${aa ? ': the same bundle, an A/A run' : ''}; scenarios ${scenarios.map((s) => s.key).join(', ')}`);

  const persistDir = persistDirFor('bench-compare');
  const scratch = [persistDir, now.bundleDir, base.bundleDir, now.migrationsDir, base.migrationsDir].filter(Boolean);
  const cleanUp = () => {
    for (const dir of scratch) rmSync(dir, { recursive: true, force: true });
  };
  for (const signal of ['SIGINT', 'SIGTERM'])
    process.once(signal, () => {
      cleanUp();
      process.exit(130);
    });
  // Both builds' flush delay past the bench: no flush falls in a slice (it would land on any side's).
  for (const b of [now, base]) b.vars.FLUSH_DELAY_S = String(FLUSH_DELAY_S);
  const server = await startServer({
    ...now,
    persistDir,
    adminToken: ADMIN_TOKEN,
    origin: ORIGIN,
    beforeBundleDir: base.bundleDir,
    beforeObjects: base.objects,
    before: { compatibilityDate: base.compatibilityDate, compatibilityFlags: base.compatibilityFlags, vars: base.vars, migrationsDir: base.migrationsDir },
  });
  const targets = { now: server, base: { ...server, urls: { ...server.urls, ours: server.urls.before }, sources: server.before.sources } };
  const runs = [];
  try {
    log('warm-up: every session of every pool once, on both builds, then 2 s of each scenario');
    const touched = new Set();
    const touch = async (target, scenario, tag) => {
      if (touched.has(`${tag}/${scenario.pool}`)) return;
      touched.add(`${tag}/${scenario.pool}`);
      await load(target, scenario, SETTINGS.pool, {
        connections: SETTINGS.connections,
        amount: SETTINGS.pool,
        sequential: true,
        idPrefix: `t-${tag}-${scenario.key}`,
      });
    };
    for (const s of scenarios) {
      await touch(server, byKey(s.vs), 'floor');
      for (const side of ['now', 'base']) await touch(targets[side], s, side);
    }
    // Slices are sized from each side's rate at the maximum; now and base get the same number of
    // requests a slice (their mean rate's), so a slice's fixed costs (connecting, the last requests'
    // lower concurrency, going idle) weigh on both alike.
    const sidesOf = {};
    for (const s of scenarios) {
      const sides = [
        ['floor', server, byKey(s.vs)],
        ['now', targets.now, s],
        ['base', targets.base, s],
      ].map(([name, target, scenario]) => ({
        name,
        target,
        scenario,
        url: target.urls[scenario.worker],
        ctx: { sources: target.sources, origin: ORIGIN },
        sessionPrefix: `${scenario.pool}-s`,
      }));
      const rate = {};
      for (const side of sides)
        rate[side.name] = (
          await load(side.target, side.scenario, SETTINGS.pool, { connections: SETTINGS.connections, duration: 2, idPrefix: `w-${side.name}-${s.key}` })
        ).req_per_s;
      const amount = (r) => Math.max(SETTINGS.connections, Math.round(r * SETTINGS.sliceS));
      const ours = amount((rate.now + rate.base) / 2);
      sidesOf[s.key] = sides.map(({ target, scenario, ...side }) => ({
        ...side,
        scenario: scenario.key,
        amount: side.name === 'floor' ? amount(rate.floor) : ours,
      }));
    }
    await settle(server.workerdPid);

    for (let round = 0; round < SETTINGS.rounds; round++) {
      for (const s of scenarios) {
        const sides = sidesOf[s.key];
        const totals = await alternate({
          pid: server.workerdPid,
          clockTicks,
          sides: [...sides.slice(round % 3), ...sides.slice(0, round % 3)],
          slices: SETTINGS.slices,
          connections: SETTINGS.connections,
          pool: SETTINGS.pool,
          idPrefix: `${round}-${s.key}`,
        });
        const row = { round, scenario: s.key };
        for (const [name, t] of Object.entries(totals)) {
          const events = Math.max(1, t.ok * s.events);
          row[name] = { ...t, cpu_us_per_event: (t.cpu_s / events) * 1e6, events_per_s: events / t.s };
        }
        runs.push(row);
        log(
          `round ${round + 1} ${s.key}: CPU µs/event now ${row.now.cpu_us_per_event.toFixed(1)}, base ${row.base.cpu_us_per_event.toFixed(1)}, ${s.vs} ${row.floor.cpu_us_per_event.toFixed(1)}: now/base ${(row.now.cpu_us_per_event / row.base.cpu_us_per_event).toFixed(3)}`,
        );
      }
    }
  } finally {
    await server.stop();
    cleanUp();
  }

  const summary = {};
  for (const s of scenarios) {
    const rows = runs.filter((r) => r.scenario === s.key);
    const per = (fn) => spread(rows.map(fn));
    summary[s.key] = {
      label: s.label,
      vs: s.vs,
      cpu_now_vs_base: per((r) => r.now.cpu_us_per_event / r.base.cpu_us_per_event),
      events_per_s_now_vs_base: per((r) => r.now.events_per_s / r.base.events_per_s),
      cpu_now_vs_floor: per((r) => r.now.cpu_us_per_event / r.floor.cpu_us_per_event),
      cpu_base_vs_floor: per((r) => r.base.cpu_us_per_event / r.floor.cpu_us_per_event),
    };
  }
  const ownAA = aa ? Object.fromEntries(Object.entries(summary).map(([k, v]) => [k, detectable(v.cpu_now_vs_base)])) : null;
  const quoted = aa ? null : latestAA();
  const results = {
    started_at: startedAt.toISOString(),
    finished_at: new Date().toISOString(),
    machine: { cpus: os.cpus()[0]?.model, cores: os.cpus().length, node: process.version, loadavg: os.loadavg() },
    settings: { ...SETTINGS, flush_delay_s: FLUSH_DELAY_S },
    now: { commit: now.commit, dirty: !!now.dirty, ref: values.now ?? null },
    base: { commit: base.commit, ref: against },
    aa,
    detectable: ownAA ?? quoted?.detectable ?? null,
    detectable_from: aa ? 'this run' : (quoted?.file ?? null),
    summary,
    runs,
  };
  mkdirSync(resultsDir, { recursive: true });
  const file = path.join(resultsDir, `compare-${startedAt.toISOString().replace(/[:.]/g, '-')}.json`);
  writeFileSync(file, `${JSON.stringify(results, null, 2)}\n`);
  printReport(results, quoted);
  log(`results: ${path.relative(root, file)}`);
}

function printReport(results, quoted) {
  const { now, base, settings: s } = results;
  const out = [];
  out.push(
    `\n### CPU per event, ${now.commit.slice(0, 8)}${now.dirty ? ' + uncommitted changes' : ''} (now) against ${base.commit.slice(0, 8)} (base)${results.aa ? ': A/A, the same bundle on both sides' : ''}\n`,
  );
  out.push(
    `Medians of ${s.rounds} rounds' ratios; in each round, per scenario, the sides take turns in ${s.slices} slices of ~${s.sliceS} s at the maximum (${s.connections} connections). The request path only: FLUSH_DELAY_S ${s.flush_delay_s} in both builds. ${results.machine.cores} cores, load average ${results.machine.loadavg.map((l) => l.toFixed(1)).join(' ')} at the end.\n`,
  );
  out.push('| scenario | CPU/event now ÷ base | events/s now ÷ base | now ÷ floor | base ÷ floor | smallest change it can show |');
  out.push('|---|---|---|---:|---:|---:|');
  for (const [key, r] of Object.entries(results.summary)) {
    out.push(
      `| ${r.label} | ${formatSpread(r.cpu_now_vs_base)} | ${r.events_per_s_now_vs_base?.median.toFixed(3)}× | ${r.cpu_now_vs_floor?.median.toFixed(3)}× (${r.vs}) | ${r.cpu_base_vs_floor?.median.toFixed(3)}× | ${formatShare(results.detectable?.[key])} |`,
    );
  }
  out.push(
    results.aa
      ? '\nA/A run: every ratio\'s truth is 1. "Smallest change it can show" is how far the median\'s interval strays from 1 here: a later now ÷ base whose interval stays farther out than that is a change, not noise.'
      : quoted
        ? `\n"Smallest change it can show": from the newest A/A run (${quoted.file}, ${quoted.rounds} rounds). A ratio whose interval excludes 1 by more than that is a change.`
        : '\nNo A/A run in test/bench/results yet: run `npm run bench -- --against HEAD --now HEAD` to learn the smallest change these figures can show.',
  );
  console.log(out.join('\n'));
}

await main();
