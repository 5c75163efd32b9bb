// The pieces the benchmarks share: bundle the worker, apply the D1 migrations, start server.mjs (Miniflare with
// the floors and ours) on core 0, run load.mjs (autocannon) on core 1, read workerd's CPU time.
import { execFileSync, spawn } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';

export const root = path.resolve(import.meta.dirname, '../..');
export const ADMIN_TOKEN = 'bench-admin-token';
export const ORIGIN = 'https://shop.example';
const CLK_TCK = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
export const clockTicks = CLK_TCK;

export const log = (...args) => console.error(`[bench ${new Date().toISOString().slice(11, 19)}]`, ...args);

/** This process, and the load processes it starts, on core 1; server.mjs (and workerd) get core 0. */
export const pinToLoadCore = () => execFileSync('taskset', ['-a', '-cp', '1', String(process.pid)], { stdio: 'ignore' });

/** The worker bundled as `wrangler deploy --dry-run --outdir` leaves it (from another checkout with `cwd`). */
export function bundle(cwd = root) {
  const out = mkdtempSync(path.join(tmpdir(), 'we-bundle-'));
  execFileSync(process.execPath, [path.join(root, 'node_modules/wrangler/bin/wrangler.js'), 'deploy', '--dry-run', '--outdir', out], {
    cwd,
    stdio: ['ignore', 'ignore', 'inherit'],
    env: { ...process.env, WRANGLER_SEND_METRICS: 'false' },
  });
  return out;
}

const git = (...args) => execFileSync('git', args, { cwd: root, encoding: 'utf8' }).trim();

/**
 * The worker at commit `ref`, bundled from a temporary git worktree (node_modules: this checkout's),
 * with that commit's wrangler settings and a copy of its migrations; the worktree is removed after.
 */
export async function bundleAt(ref) {
  const commit = git('rev-parse', '--verify', `${ref}^{commit}`);
  const tree = mkdtempSync(path.join(tmpdir(), `we-at-${commit.slice(0, 8)}-`));
  git('worktree', 'add', '--detach', tree, commit);
  try {
    symlinkSync(path.join(root, 'node_modules'), path.join(tree, 'node_modules'));
    const bundleDir = bundle(tree);
    const migrationsDir = mkdtempSync(path.join(tmpdir(), 'we-migrations-'));
    cpSync(path.join(tree, 'migrations'), migrationsDir, { recursive: true });
    return { commit, bundleDir, migrationsDir, ...(await wranglerConfig(tree)) };
  } finally {
    git('worktree', 'remove', '--force', tree);
    if (existsSync(tree)) rmSync(tree, { recursive: true, force: true });
  }
}

/** What Miniflare needs from wrangler.toml (of this checkout, or another at `dir`): compatibility settings, [vars], objects. */
export async function wranglerConfig(dir = root) {
  const { unstable_readConfig } = await import('wrangler');
  const c = unstable_readConfig({ config: path.join(dir, 'wrangler.toml') });
  return {
    compatibilityDate: c.compatibility_date,
    compatibilityFlags: c.compatibility_flags ?? [],
    vars: { ...c.vars },
    objects: (c.durable_objects?.bindings ?? []).map((b) => [b.name, b.class_name]),
  };
}

/** Starts server.mjs on core 0; resolves with its READY payload, a command channel and `stop`. */
export function startServer(config) {
  const child = spawn('taskset', ['-c', '0', process.execPath, path.join(import.meta.dirname, 'server.mjs'), JSON.stringify(config)], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const pending = new Map();
  let nextId = 0;
  return new Promise((resolve, reject) => {
    const lines = createInterface({ input: child.stdout });
    child.on('exit', (code) => reject(new Error(`server exited with ${code}`)));
    lines.on('line', (line) => {
      if (line.startsWith('READY ')) {
        const ready = JSON.parse(line.slice(6));
        const command = (cmd) =>
          new Promise((res, rej) => {
            const id = nextId++;
            pending.set(id, { res, rej });
            child.stdin.write(`${JSON.stringify({ id, cmd })}\n`);
          });
        const stop = () =>
          new Promise((res) => {
            child.once('exit', res);
            child.stdin.end();
          });
        resolve({ ...ready, command, stop });
      } else if (line.startsWith('REPLY ')) {
        const reply = JSON.parse(line.slice(6));
        const p = pending.get(reply.id);
        pending.delete(reply.id);
        if (reply.ok) p?.res(reply.result);
        else p?.rej(new Error(reply.error));
      }
    });
  });
}

/**
 * A fresh directory for D1 and the objects to persist to: on tmpfs (/dev/shm) where there is one,
 * so the disk's write-back for other processes stays out of workerd's CPU; BENCH_PERSIST_DIR elsewhere.
 */
export function persistDirFor(name) {
  const base = process.env.BENCH_PERSIST_DIR ?? (existsSync('/dev/shm') ? '/dev/shm' : tmpdir());
  return mkdtempSync(path.join(base, `we-${name}-`));
}

/** A process's CPU time so far (all threads), in seconds: user and system apart. */
export function cpuTimes(pid) {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8')
    .replace(/^.*\) /s, '')
    .split(' ');
  return { user: Number(fields[11]) / CLK_TCK, sys: Number(fields[12]) / CLK_TCK };
}

/** workerd's CPU time so far (user + system, all threads), in seconds. */
export function cpuSeconds(pid) {
  const { user, sys } = cpuTimes(pid);
  return user + sys;
}

/** Waits until workerd is idle (at most a clock tick of CPU in 300 ms): a run's tail of queued work ends before the next. */
export async function settle(pid, maxS = 10) {
  const began = performance.now();
  let last = cpuSeconds(pid);
  while (performance.now() - began < maxS * 1000) {
    await sleep(300);
    const now = cpuSeconds(pid);
    if (now - last <= 1.5 / CLK_TCK) return;
    last = now;
  }
}

/** One autocannon run (load.mjs) in its own process, on the core this process passes on. */
export function load(server, scenario, pool, run) {
  const opts = {
    url: server.urls[scenario.worker],
    scenario: scenario.key,
    ctx: { sources: server.sources, origin: ORIGIN },
    pool,
    sessionPrefix: `${scenario.pool}-s`,
    ...run,
  };
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [path.join(import.meta.dirname, 'load.mjs'), JSON.stringify(opts)], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.on('exit', (code) => (code === 0 ? resolve(JSON.parse(out.trim().split('\n').at(-1))) : reject(new Error(`load.mjs exited with ${code}`))));
  });
}

/**
 * One measured run at the maximum, after `prerollS` of the same load unmeasured: workerd's CPU over the run, per event; then, for our worker, the
 * drain (drain()) so its flush does not fall into the next run, and for a floor (or with `flushDelayS`
 * null: no flush due within the bench) the end of its queued work. `target` is the server, or a copy
 * of it whose `urls.ours` and `sources` point at another build.
 */
export async function cpuRun(server, target, scenario, pool, run, flushDelayS, prerollS = 1) {
  // Unmeasured, just before: whatever ran or idled before (a drain, another worker) is behind it.
  if (prerollS > 0) await load(target, scenario, pool, { ...run, duration: prerollS, idPrefix: `${run.idPrefix}-pre` });
  const cpu0 = cpuTimes(server.workerdPid);
  const r = await load(target, scenario, pool, run);
  const cpu1 = cpuTimes(server.workerdPid);
  const flush = scenario.worker === 'ours' && flushDelayS !== null ? await drain(server.workerdPid, flushDelayS) : { cpu_s: 0, wall_s: 0 };
  if (scenario.worker !== 'ours' || flushDelayS === null) await settle(server.workerdPid);
  const events = Math.max(1, r.ok * scenario.events);
  const cpu = cpu1.user + cpu1.sys - cpu0.user - cpu0.sys;
  return {
    ...r,
    cpu_s: cpu,
    cpu_sys_s: cpu1.sys - cpu0.sys,
    flush_cpu_s: flush.cpu_s,
    flush_wall_s: flush.wall_s,
    cpu_us_per_event: (cpu / events) * 1e6,
    flush_cpu_us_per_event: (flush.cpu_s / events) * 1e6,
  };
}

/**
 * Waits until workerd is idle again: the session objects write D1 FLUSH_DELAY_S after their
 * events, so the flush of a run's events happens after the run. Returns the CPU seconds spent.
 */
export async function drain(pid, flushDelayS, maxS = 40) {
  const start = cpuSeconds(pid);
  const began = performance.now();
  await sleep(flushDelayS * 1000 + 500);
  let last = cpuSeconds(pid);
  while (performance.now() - began < maxS * 1000) {
    await sleep(500);
    const now = cpuSeconds(pid);
    if (now - last <= 0.02) break;
    last = now;
  }
  return { cpu_s: cpuSeconds(pid) - start, wall_s: (performance.now() - began) / 1000 };
}

/** Applies the *.sql of `dir` (migrations/ of this checkout) in order to a D1 database of a Miniflare instance (statement by statement). */
export async function applyMigrations(db, dir = path.join(root, 'migrations')) {
  for (const file of readdirSync(dir)
    .filter((f) => f.endsWith('.sql'))
    .sort()) {
    const sql = readFileSync(path.join(dir, file), 'utf8').replace(/--.*$/gm, '');
    for (const stmt of sql
      .split(';')
      .map((s) => s.trim())
      .filter(Boolean))
      await db.prepare(stmt).run();
  }
}
