// Ingest benchmark (issue 6): our worker beside two floors, in one workerd, in one run.
// Run: npm run bench:ingest (about 15 minutes; loopback only; stops by itself), or npm run bench for all.
//
// - Bundles the worker as `wrangler deploy --dry-run` does and runs it with floor 0 (bare 204) and
//   floor 1 (worker → Durable Object → one SQLite insert) in one Miniflare, each worker on its own
//   direct socket: no dev proxy or Miniflare entry worker in the request path. workerd on core 0.
// - Each measurement is one autocannon process on core 1 (load.mjs); requests pick a session from
//   a pool of POOL sessions and carry fresh event ids.
// - CPU and the maximum: BENCH_ROUNDS rounds; in each, every scenario of ours runs back to back
//   with its floor (scenarios.mjs `vs`), which goes first alternating round by round, so drift on
//   this shared machine hits both. Each round gives one ratio of CPU per event; the report gives
//   their median with its spread (ratios.mjs), and beside it what compare.mjs can tell apart (its
//   newest A/A run). Then BENCH_REPS repetitions of latency and overload, at the median maximum.
// - Writes test/bench/results/ingest-<time>.json and prints the markdown tables (report.mjs).
//
// Environment: BENCH_ROUNDS (9), BENCH_REPS (3), BENCH_MAX_S (3), BENCH_LATENCY_S (3), BENCH_OVERLOAD_S (2),
// BENCH_LAG_S (30), BENCH_POOL (1000), BENCH_ONLY (comma-separated scenario keys), BENCH_SKIP_WEIGHT=1.
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  ADMIN_TOKEN,
  bundle,
  clockTicks,
  cpuRun,
  cpuSeconds,
  drain,
  load as loadRun,
  log,
  ORIGIN,
  persistDirFor,
  pinToLoadCore,
  root,
  startServer,
  wranglerConfig,
} from './harness.mjs';
import { measureLag } from './lag.mjs';
import { latestAA } from './ratios.mjs';
import { printReport, summarize } from './report.mjs';
import { byKey, SCENARIOS } from './scenarios.mjs';
import { ourTracker, peerTrackers, sizes } from './weight.mjs';

const env = (name, fallback) => Number(process.env[name] ?? fallback);
const SETTINGS = {
  rounds: env('BENCH_ROUNDS', 9),
  reps: env('BENCH_REPS', 3),
  maxS: env('BENCH_MAX_S', 3),
  latencyS: env('BENCH_LATENCY_S', 3),
  overloadS: env('BENCH_OVERLOAD_S', 2),
  lagS: env('BENCH_LAG_S', 30),
  pool: env('BENCH_POOL', 1000),
  connections: 50,
  overloadConnections: 200,
};
const load = (server, scenario, run) => loadRun(server, scenario, SETTINGS.pool, run);

async function main() {
  pinToLoadCore();
  const startedAt = new Date();
  const tag = startedAt.getTime().toString(36);
  const only = process.env.BENCH_ONLY?.split(',');
  const scenarios = SCENARIOS.filter((s) => s.available(root) && (only ? only.includes(s.key) : !s.optional));
  // The floor each of ours is compared with runs too, named or not.
  for (const s of [...scenarios]) if (s.vs && !scenarios.some((f) => f.key === s.vs)) scenarios.splice(scenarios.indexOf(s), 0, byKey(s.vs));
  const missing = SCENARIOS.filter((s) => !s.available(root) && !s.optional).map((s) => s.key);
  log(`scenarios: ${scenarios.map((s) => s.key).join(', ')}${missing.length ? `; not measured (endpoint missing): ${missing.join(', ')}` : ''}`);

  log('bundling the worker (wrangler deploy --dry-run)');
  const bundleDir = bundle();
  const wrangler = await wranglerConfig();
  const flushDelayS = Number(wrangler.vars.FLUSH_DELAY_S ?? 5);
  const persistDir = persistDirFor('bench');
  const server = await startServer({ ...wrangler, bundleDir, persistDir, adminToken: ADMIN_TOKEN, origin: ORIGIN });
  if (!server.workerdPid) throw new Error('workerd process not found');
  log(`workerd pid ${server.workerdPid} on core 0; workers at ${Object.values(server.urls).join(' ')}`);

  // One request per scenario first: a scenario whose request the endpoint refuses is left out, saying why.
  const refused = {};
  for (const s of [...scenarios]) {
    const req = s.request(
      { sources: server.sources, origin: ORIGIN },
      `preflight-${s.pool}`,
      () => `${tag}-pre-${s.key}-${Math.random().toString(36).slice(2)}`,
      new Date().toISOString(),
    );
    const res = await fetch(new URL(req.path, server.urls[s.worker]), { method: req.method, headers: req.headers, body: req.body });
    const text = await res.text();
    const bad = !res.ok || /"status":"rejected"/.test(text);
    if (bad) {
      refused[s.key] = `${res.status} ${text.slice(0, 300)}`;
      scenarios.splice(scenarios.indexOf(s), 1);
      log(`left out ${s.key}: its request was refused: ${refused[s.key]}`);
    }
  }

  const runs = [];
  try {
    // Objects stay in memory once made (server.mjs: preventEviction), so every session of every
    // pool is touched once first; that touch is the cost of a session's first event.
    log('warm-up: one request per session of every pool, then 2 s of each scenario');
    const firstTouch = {};
    for (const s of scenarios) {
      if (s.worker === 'floor0' || firstTouch[s.pool]) continue;
      const cpu0 = cpuSeconds(server.workerdPid);
      const r = await load(server, s, { connections: SETTINGS.connections, amount: SETTINGS.pool, sequential: true, idPrefix: `${tag}t${s.key}` });
      firstTouch[s.pool] = {
        scenario: s.key,
        req_per_s: r.req_per_s,
        cpu_us_per_request: ((cpuSeconds(server.workerdPid) - cpu0) / Math.max(1, r.ok)) * 1e6,
        ok: r.ok,
      };
    }
    for (const s of scenarios) await load(server, s, { connections: 10, duration: 2, idPrefix: `${tag}w${s.key}` });
    await drain(server.workerdPid, flushDelayS);

    // Units of a round: each of ours with its floor, and the floors no scenario of ours needs, alone.
    const ours = scenarios.filter((s) => s.vs);
    const units = [...ours.map((s) => [byKey(s.vs), s]), ...scenarios.filter((f) => !f.vs && !ours.some((s) => s.vs === f.key)).map((f) => [f])];
    for (let round = 0; round < SETTINGS.rounds; round++) {
      const turn = round % units.length;
      for (const unit of [...units.slice(turn), ...units.slice(0, turn)]) {
        const cpu = {};
        for (const s of round % 2 ? [...unit].reverse() : unit) {
          const r = await cpuRun(
            server,
            server,
            s,
            SETTINGS.pool,
            { connections: SETTINGS.connections, duration: SETTINGS.maxS, idPrefix: `${tag}${round}m${s.key}` },
            flushDelayS,
          );
          runs.push({ rep: round, round, pair: unit.at(-1).key, scenario: s.key, phase: 'max', ...r });
          cpu[s.key] = r.cpu_us_per_event;
          log(
            `round ${round + 1} max ${s.key}: ${r.req_per_s.toFixed(0)} req/s, ${r.events_per_s.toFixed(0)} events/s, ${r.cpu_us_per_event.toFixed(1)} µs CPU/event (+${r.flush_cpu_us_per_event.toFixed(1)} flush)`,
          );
        }
        if (unit.length === 2) log(`round ${round + 1} ${unit[1].key} ÷ ${unit[0].key}: ${(cpu[unit[1].key] / cpu[unit[0].key]).toFixed(3)} CPU per event`);
      }
    }

    const maxRate = (s) => {
      const rates = runs
        .filter((r) => r.phase === 'max' && r.scenario === s.key)
        .map((r) => r.req_per_s)
        .sort((a, b) => a - b);
      return Math.max(1, Math.round(rates[Math.floor(rates.length / 2)] ?? 1));
    };
    for (let rep = 0; rep < SETTINGS.reps; rep++) {
      for (const s of scenarios) {
        const rate = maxRate(s);
        const half = await load(server, s, {
          connections: SETTINGS.connections,
          duration: SETTINGS.latencyS,
          rate: Math.max(1, Math.round(rate / 2)),
          idPrefix: `${tag}${rep}h${s.key}`,
        });
        runs.push({ rep, scenario: s.key, phase: 'half', target_rate: rate / 2, ...half });
        const over = await load(server, s, {
          connections: SETTINGS.overloadConnections,
          duration: SETTINGS.overloadS,
          rate: rate * 2,
          idPrefix: `${tag}${rep}o${s.key}`,
        });
        runs.push({ rep, scenario: s.key, phase: 'double', target_rate: rate * 2, ...over });
        log(
          `rep ${rep + 1} ${s.key}: p50 ${half.p50_ms?.toFixed(2)} ms, p99 ${half.p99_ms?.toFixed(2)} ms at ${(rate / 2).toFixed(0)} req/s; at 2× ${over.req_per_s.toFixed(0)} req/s done, ${over.non2xx + over.errors + over.timeouts} failed`,
        );
        if (s.worker === 'ours') await drain(server.workerdPid, flushDelayS);
      }
    }

    const lagScenario = scenarios.find((s) => s.key === (process.env.BENCH_LAG_SCENARIO ?? 'beacon20')) ?? scenarios.find((s) => s.key === 'rest100');
    let lag = null;
    if (lagScenario && SETTINGS.lagS > 0) {
      log(`D1 lag under sustained ${lagScenario.key} load for ${SETTINGS.lagS} s`);
      lag = await measureLag({
        server,
        scenario: lagScenario,
        load,
        seconds: SETTINGS.lagS,
        connections: SETTINGS.connections,
        tag,
        flushDelayS,
        log,
      });
    }

    let weight = null;
    if (process.env.BENCH_SKIP_WEIGHT !== '1') {
      log('tracker weight (npm pack of the peers)');
      const ours = await ourTracker(server.urls.ours, root);
      weight = { ours: ours ? { where: ours.where, ...sizes(ours.bytes) } : null, peers: peerTrackers() };
    }

    const results = {
      started_at: startedAt.toISOString(),
      finished_at: new Date().toISOString(),
      machine: { cpus: os.cpus()[0]?.model, cores: os.cpus().length, node: process.version },
      settings: { ...SETTINGS, flush_delay_s: flushDelayS, clk_tck: clockTicks },
      not_measured: missing,
      refused,
      scenarios: scenarios.map((s) => ({ key: s.key, label: s.label, worker: s.worker, events: s.events, floor: !!s.floor, vs: s.vs })),
      runs,
      first_touch: firstTouch,
      aa: latestAA(),
      lag,
      weight,
    };
    results.summary = summarize(results);
    const dir = path.join(import.meta.dirname, 'results');
    mkdirSync(dir, { recursive: true });
    const file = path.join(dir, `ingest-${startedAt.toISOString().replace(/[:.]/g, '-')}.json`);
    writeFileSync(file, `${JSON.stringify(results, null, 2)}\n`);
    printReport(results);
    log(`results: ${path.relative(root, file)}`);
  } finally {
    await server.stop();
    rmSync(persistDir, { recursive: true, force: true });
    rmSync(bundleDir, { recursive: true, force: true });
  }
}

await main();
