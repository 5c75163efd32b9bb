// Where our worker spends its CPU: V8's sampling profiler over the inspector, during a max-rate run
// of one scenario (the request path) and during the drain after it (the D1 flush).
// Run: node_modules/.bin/node test/bench/profile.mjs rest100 [seconds]
// Prints the top functions by self time for each phase and writes the .cpuprofile files to
// test/bench/results/ (open them in Chrome DevTools' Performance panel).
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { ADMIN_TOKEN, bundle, drain, load, log, ORIGIN, pinToLoadCore, startServer, wranglerConfig } from './harness.mjs';
import { byKey } from './scenarios.mjs';

const [key = 'rest100', seconds = '5'] = process.argv.slice(2);
const scenario = byKey(key);
if (!scenario) throw new Error(`unknown scenario ${key}`);
const POOL = Number(process.env.BENCH_POOL ?? 1000);
const INSPECTOR_PORT = 9339;
const TARGETS = ['core:user:ours', 'd1:db', `core:user:${scenario.worker}`];

/** A minimal CDP client over the inspector WebSocket of one workerd worker. */
async function inspect(id) {
  const ws = new WebSocket(`ws://127.0.0.1:${INSPECTOR_PORT}/${id}`);
  await new Promise((res, rej) => {
    ws.onopen = res;
    ws.onerror = rej;
  });
  let next = 0;
  const pending = new Map();
  ws.onmessage = (m) => {
    const msg = JSON.parse(m.data);
    if (msg.id !== undefined) pending.get(msg.id)?.(msg);
  };
  const send = (method, params = {}) =>
    new Promise((res) => {
      const msgId = next++;
      pending.set(msgId, res);
      ws.send(JSON.stringify({ id: msgId, method, params }));
    });
  return { send, close: () => ws.close() };
}

function topFunctions(profile, limit = 25) {
  const dt = new Map();
  const { samples, timeDeltas, nodes } = profile;
  const byId = new Map(nodes.map((n) => [n.id, n]));
  for (const [i, id] of samples.entries()) dt.set(id, (dt.get(id) ?? 0) + (timeDeltas[i] ?? 0));
  const self = new Map();
  let total = 0;
  for (const [id, us] of dt) {
    const f = byId.get(id).callFrame;
    const name = `${f.functionName || '(anonymous)'} ${f.url ? `${path.basename(f.url)}:${f.lineNumber + 1}` : ''}`.trim();
    self.set(name, (self.get(name) ?? 0) + us);
    total += us;
  }
  const busy = total - (self.get('(idle)') ?? 0);
  return {
    busy_ms: busy / 1000,
    top: [...self]
      .filter(([n]) => n !== '(idle)')
      .sort((a, b) => b[1] - a[1])
      .slice(0, limit)
      .map(([n, us]) => ({ fn: n, ms: us / 1000, share: us / Math.max(1, busy) })),
  };
}

pinToLoadCore();
const bundleDir = bundle();
const wrangler = await wranglerConfig();
const persistDir = mkdtempSync(path.join(os.tmpdir(), 'we-prof-'));
const server = await startServer({ ...wrangler, bundleDir, persistDir, adminToken: ADMIN_TOKEN, origin: ORIGIN, inspectorPort: INSPECTOR_PORT });
const outDir = path.join(import.meta.dirname, 'results');
mkdirSync(outDir, { recursive: true });
try {
  log(`touching ${POOL} sessions, warming up`);
  await load(server, scenario, POOL, { connections: 50, amount: POOL, sequential: true, idPrefix: 'pt' });
  await load(server, scenario, POOL, { connections: 50, duration: 2, idPrefix: 'pw' });
  await drain(server.workerdPid, Number(wrangler.vars.FLUSH_DELAY_S ?? 5));

  const clients = await Promise.all([...new Set(TARGETS)].map(async (id) => ({ id, cdp: await inspect(id) })));
  for (const phase of ['request', 'flush']) {
    for (const { cdp } of clients) {
      await cdp.send('Profiler.enable');
      await cdp.send('Profiler.setSamplingInterval', { interval: 200 });
      await cdp.send('Profiler.start');
    }
    if (phase === 'request') {
      const r = await load(server, scenario, POOL, { connections: 50, duration: Number(seconds), idPrefix: 'pm' });
      log(`${key}: ${r.req_per_s.toFixed(0)} req/s, ${r.events_per_s.toFixed(0)} events/s`);
    } else {
      await drain(server.workerdPid, Number(wrangler.vars.FLUSH_DELAY_S ?? 5));
    }
    for (const { id, cdp } of clients) {
      const { result } = await cdp.send('Profiler.stop');
      const file = path.join(outDir, `profile-${key}-${phase}-${id.replace(/[^a-z0-9]+/gi, '_')}.cpuprofile`);
      writeFileSync(file, JSON.stringify(result.profile));
      const { busy_ms, top } = topFunctions(result.profile);
      console.log(`\n## ${phase} phase, ${id}: ${busy_ms.toFixed(0)} ms sampled, not idle (${path.basename(file)})`);
      for (const t of top) console.log(`${t.ms.toFixed(1).padStart(9)} ms ${(t.share * 100).toFixed(1).padStart(5)} %  ${t.fn}`);
    }
    await sleep(100);
  }
  for (const { cdp } of clients) cdp.close();
} finally {
  await server.stop();
  rmSync(persistDir, { recursive: true, force: true });
  rmSync(bundleDir, { recursive: true, force: true });
}
