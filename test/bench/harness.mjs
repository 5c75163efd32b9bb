// The pieces the benchmarks share: bundle the worker, apply the D1 migrations, start server.mjs (Miniflare with
// the floors and ours) on core 0, run load.mjs (autocannon) on core 1, read workerd's CPU time.
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
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

/** What Miniflare needs from wrangler.toml: compatibility settings and [vars]. */
export async function wranglerConfig() {
  const { unstable_readConfig } = await import('wrangler');
  const c = unstable_readConfig({ config: path.join(root, 'wrangler.toml') });
  return { compatibilityDate: c.compatibility_date, compatibilityFlags: c.compatibility_flags ?? [], vars: { ...c.vars } };
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

/** workerd's CPU time so far (user + system, all threads), in seconds. */
export function cpuSeconds(pid) {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8')
    .replace(/^.*\) /s, '')
    .split(' ');
  return (Number(fields[11]) + Number(fields[12])) / CLK_TCK;
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

/** Applies migrations/*.sql in order to a D1 database of a Miniflare instance (statement by statement). */
export async function applyMigrations(db) {
  for (const file of readdirSync(path.join(root, 'migrations'))
    .filter((f) => f.endsWith('.sql'))
    .sort()) {
    const sql = readFileSync(path.join(root, 'migrations', file), 'utf8').replace(/--.*$/gm, '');
    for (const stmt of sql
      .split(';')
      .map((s) => s.trim())
      .filter(Boolean))
      await db.prepare(stmt).run();
  }
}
