// D1 keeps up: under sustained load at the maximum rate, a marker (an identified session of one
// event, on the partner API) is sent every second; once acknowledged, D1's row of the marker's
// session is polled until it counts the event. Lag = visible − acknowledged. (An anonymous
// session, like the load's, is written out when it closes, by design: docs/cost.md.) Afterwards,
// how long the markers still in flight take to show.
import { setTimeout as sleep } from 'node:timers/promises';

const POLL_MS = 100;
const MARKER_EVERY_MS = 1000;
const VISIBLE_TIMEOUT_MS = 60_000;

const median = (xs) => (xs.length ? [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] : null);

export async function measureLag({ server, scenario, load, seconds, connections, tag, flushDelayS, log }) {
  const base = server.urls.ours;
  const secret = server.sources.server.secret_key;

  async function marker(n, loadStart) {
    const session = `lag-${tag}-${n}`;
    const body = {
      events: [{ event_id: `${tag}-lag-${n}`, session_id: session, name: 'page_view', occurred_at: new Date().toISOString(), customer_id: `lag-${n}` }],
    };
    const sentAt = performance.now();
    const res = await fetch(new URL('/api/v1/web-events', base), {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${secret}` },
      body: JSON.stringify(body),
    });
    await res.arrayBuffer();
    const ackAt = performance.now();
    if (!res.ok) return { n, at_s: (sentAt - loadStart) / 1000, status: res.status, lag_s: null };
    while (performance.now() - ackAt < VISIBLE_TIMEOUT_MS) {
      // A poll that fails (Miniflare's D1 proxy, refusing a connection under the load) is polled again.
      const seen = await server.command(`d1session:${server.sources.server.id},${session}`).catch(() => ({ n: 0 }));
      if (seen.n >= 1) return { n, at_s: (sentAt - loadStart) / 1000, lag_s: (performance.now() - ackAt) / 1000 };
      await sleep(POLL_MS);
    }
    return { n, at_s: (sentAt - loadStart) / 1000, lag_s: null };
  }

  await server.command(`d1session:${server.sources.server.id},warm-up`); // the first call sets up Miniflare's proxy: not during the load
  const loadStart = performance.now();
  const running = load(server, scenario, { connections, duration: seconds, idPrefix: `${tag}lag` });
  let done = false;
  const sustained = running.then((r) => {
    done = true;
    return r;
  });
  const markers = [];
  for (let n = 0; !done && performance.now() - loadStart < seconds * 1000; n++) {
    markers.push(marker(n, loadStart));
    await sleep(MARKER_EVERY_MS);
  }
  const result = await sustained;
  const stoppedAt = performance.now();
  const samples = await Promise.all(markers);
  const drainS = (performance.now() - stoppedAt) / 1000;

  const thirds = [0, 1, 2].map((t) => {
    const inThird = samples.filter((m) => m.at_s >= (t * seconds) / 3 && m.at_s < ((t + 1) * seconds) / 3);
    const lags = inThird.map((m) => m.lag_s).filter((x) => x !== null);
    return { markers: inThird.length, visible: lags.length, median_s: median(lags), max_s: lags.length ? Math.max(...lags) : null };
  });
  const [first, , last] = thirds;
  const grows = first.median_s === null || last.median_s === null || last.median_s > first.median_s + 1 || last.visible < last.markers;
  const caughtUp = samples.every((m) => m.lag_s !== null);
  const out = {
    scenario: scenario.key,
    seconds,
    req_per_s: result.req_per_s,
    events_per_s: result.events_per_s,
    thirds,
    drain_s: drainS,
    caught_up: caughtUp,
    bounded: !grows && caughtUp && drainS <= flushDelayS + 5,
    markers: samples,
  };
  log(`lag thirds (median s): ${thirds.map((t) => t.median_s?.toFixed(2)).join(' / ')}; the last marker showed ${drainS.toFixed(1)} s after the load stopped`);
  return out;
}
