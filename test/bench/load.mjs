// The load side of `npm run bench`: one autocannon run, started by ingest.mjs under `taskset -c 1`
// (its own core), printing one JSON line of results. Every request picks a session from a pool and
// carries fresh event ids, so objects and rows are spread as real traffic spreads them.
//
// `rate`: request starts are paced evenly at that many per second. autocannon's own overallRate
// sends each second's quota as a burst at the start of the second, which measures a burst, not
// latency at a rate; so the pacing here wraps each client's request start instead.
import autocannon from 'autocannon';
import { byKey } from './scenarios.mjs';

const opts = JSON.parse(process.argv[2]);
const scenario = byKey(opts.scenario);
const base = new URL(opts.url);

const sessions = Array.from({ length: opts.pool }, (_, i) => `${opts.sessionPrefix}-${i}`);
let counter = 0;
let touched = 0;
const ids = () => `${opts.idPrefix}-${(counter++).toString(36)}`;
let now = new Date().toISOString();
const clock = setInterval(() => (now = new Date().toISOString()), 100);

/** Evenly spaced request starts at `rate` per second, shared by all connections. */
function pacer(rate) {
  const interval = 1000 / rate;
  const waiting = [];
  let next = performance.now();
  let timer = null;
  const pump = () => {
    timer = null;
    const t = performance.now();
    // A start that found no free connection is not made up later in a burst.
    if (next < t - 10) next = t - 10;
    while (waiting.length && next <= t) {
      next += interval;
      waiting.shift()();
    }
    if (waiting.length) timer = setTimeout(pump, Math.max(0, next - performance.now()));
  };
  return (start) => {
    waiting.push(start);
    if (!timer) timer = setTimeout(pump, Math.max(0, next - performance.now()));
  };
}

const latencies = [];
const pace = opts.rate ? pacer(opts.rate) : null;

function setupClient(client) {
  client.on('response', (status, _bytes, ms) => {
    if (status >= 200 && status < 300) latencies.push(ms);
  });
  if (!pace) return;
  const start = client._doRequest.bind(client);
  client._doRequest = () => pace(() => client.destroyed || start());
}

const instance = autocannon({
  url: base.origin,
  connections: opts.connections,
  ...(opts.amount ? { amount: opts.amount } : { duration: opts.duration }),
  timeout: opts.timeout ?? 10,
  setupClient,
  requests: [
    {
      setupRequest(req) {
        const session = opts.sequential ? sessions[touched++ % sessions.length] : sessions[Math.floor(Math.random() * sessions.length)];
        return { ...req, ...scenario.request(opts.ctx, session, ids, now) };
      },
    },
  ],
});
const result = await instance;
clearInterval(clock);

latencies.sort((a, b) => a - b);
const pct = (p) => (latencies.length ? latencies[Math.min(latencies.length - 1, Math.floor((p / 100) * latencies.length))] : null);
const ok = result['2xx'];
const statuses = Object.fromEntries(Object.entries(result.statusCodeStats ?? {}).map(([k, v]) => [k, v.count]));
process.stdout.write(
  `${JSON.stringify({
    duration_s: result.duration,
    sent: ok + result.non2xx + result.errors + result.timeouts,
    ok,
    non2xx: result.non2xx,
    errors: result.errors,
    timeouts: result.timeouts,
    statuses,
    req_per_s: ok / result.duration,
    events_per_s: (ok * scenario.events) / result.duration,
    p50_ms: pct(50),
    p99_ms: pct(99),
    max_ms: latencies.at(-1) ?? null,
  })}\n`,
);
