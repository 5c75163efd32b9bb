// D1 keeps up: under sustained load at the maximum rate, a marker request (its own session) is
// sent every second; once acknowledged, D1's row of the marker's session is polled until it
// counts the marker's events. Lag = visible − acknowledged. Afterwards, the backlog (events D1's
// session rows count after the load stopped) and how long D1 takes to drain it.
import { setTimeout as sleep } from 'node:timers/promises';

const POLL_MS = 100;
const MARKER_EVERY_MS = 1000;
const VISIBLE_TIMEOUT_MS = 60_000;

const median = (xs) => (xs.length ? [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] : null);

export async function measureLag({ server, scenario, load, seconds, connections, tag, acknowledgedBefore, onAck, flushDelayS, origin, log }) {
  const base = server.urls.ours;
  const ctx = { sources: server.sources, origin };
  let counter = 0;
  const ids = () => `${tag}-lag-${(counter++).toString(36)}`;

  async function marker(n, loadStart) {
    const session = `lag-${tag}-${n}`;
    const req = scenario.request(ctx, session, ids, new Date().toISOString());
    const sentAt = performance.now();
    const res = await fetch(new URL(req.path, base), { method: req.method, headers: req.headers, body: req.body });
    await res.arrayBuffer();
    const ackAt = performance.now();
    if (!res.ok) return { n, at_s: (sentAt - loadStart) / 1000, status: res.status, lag_s: null };
    onAck(scenario.events);
    while (performance.now() - ackAt < VISIBLE_TIMEOUT_MS) {
      if ((await server.command(`d1session:${session}`)).n >= scenario.events)
        return { n, at_s: (sentAt - loadStart) / 1000, lag_s: (performance.now() - ackAt) / 1000 };
      await sleep(POLL_MS);
    }
    return { n, at_s: (sentAt - loadStart) / 1000, lag_s: null };
  }

  await server.command('d1count'); // the first call sets up Miniflare's proxy: not at the stop
  const loadStart = performance.now();
  const running = load(server, scenario, { connections, duration: seconds, idPrefix: `${tag}lag` });
  let done = false;
  const sustained = running.then((r) => {
    done = true;
    onAck(r.ok * scenario.events);
    return r;
  });
  const markers = [];
  for (let n = 0; !done && performance.now() - loadStart < seconds * 1000; n++) {
    markers.push(marker(n, loadStart));
    await sleep(MARKER_EVERY_MS);
  }
  const result = await sustained;
  // The backlog: rows D1 gains after the load stopped (flushes still due). Counting against
  // acknowledged requests would not work: requests in flight when autocannon stops are stored
  // but never counted. D1 has drained when its row count stops growing.
  const stoppedAt = performance.now();
  const inD1AtStop = (await server.command('d1count')).n;
  let inD1 = inD1AtStop;
  let grewAt = performance.now();
  while (performance.now() - grewAt < 2500 && performance.now() - stoppedAt < (flushDelayS + 60) * 1000) {
    await sleep(250);
    const n = (await server.command('d1count')).n;
    if (n > inD1) grewAt = performance.now();
    inD1 = n;
  }
  const drainS = (grewAt - stoppedAt) / 1000;
  const samples = await Promise.all(markers);

  const thirds = [0, 1, 2].map((t) => {
    const inThird = samples.filter((m) => m.at_s >= (t * seconds) / 3 && m.at_s < ((t + 1) * seconds) / 3);
    const lags = inThird.map((m) => m.lag_s).filter((x) => x !== null);
    return { markers: inThird.length, visible: lags.length, median_s: median(lags), max_s: lags.length ? Math.max(...lags) : null };
  });
  const [first, , last] = thirds;
  const grows = first.median_s === null || last.median_s === null || last.median_s > first.median_s + 1 || last.visible < last.markers;
  const caughtUp = performance.now() - grewAt >= 2500 && inD1 >= acknowledgedBefore();
  const out = {
    scenario: scenario.key,
    seconds,
    req_per_s: result.req_per_s,
    events_per_s: result.events_per_s,
    thirds,
    backlog_at_stop: inD1 - inD1AtStop,
    backlog_in_seconds_of_ingest: (inD1 - inD1AtStop) / Math.max(1, result.events_per_s),
    drain_s: drainS,
    caught_up: caughtUp,
    bounded: !grows && caughtUp && drainS <= flushDelayS + 5,
    markers: samples,
  };
  log(
    `lag thirds (median s): ${thirds.map((t) => t.median_s?.toFixed(2)).join(' / ')}; backlog at stop ${out.backlog_at_stop} events, drained in ${drainS.toFixed(1)} s`,
  );
  return out;
}
