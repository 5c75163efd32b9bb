import type { MonitorBatch } from './monitor-object';
import { monitorOf } from './monitor-object';

/**
 * What the ingest path, the session objects and the queue consumer tell the console
 * (docs/console.md), gathered in this isolate and sent to each source's monitor after the
 * response (`flushMonitors`, in `waitUntil`, only when `monitorsDue()`):
 *
 * - counts, at most every COUNTS_EVERY_MS per source: nothing per event but an addition here;
 * - rejections, at once (they are rare, and the REST API lists them);
 * - accepted events: while someone watches, every LIVE_EVERY_MS; otherwise the last
 *   UNWATCHED_EVENTS go along with the counts, in case a console opened since (the monitor drops
 *   them when nobody watches). The monitor's answer to each send says whether anyone does.
 *
 * Nothing waits longer than its due time: the send waits for it in `waitUntil` (one per isolate).
 */

const COUNTS_EVERY_MS = 2_000;
const LIVE_EVERY_MS = 250;
const UNWATCHED_EVENTS = 100;
/** An event as a rejection keeps it: its JSON, cut to this. */
export const REJECTED_PAYLOAD_BYTES = 4096;

interface Pending extends MonitorBatch {
  sentAt: number;
  watching: boolean;
}

const pending = new Map<string, Pending>();
/** The earliest time something pending is due (ms); Infinity: nothing pending. */
let dueAt = Number.POSITIVE_INFINITY;
/** Whether a send waits for its turn already (one per isolate). */
let waiting = false;

function of(sourceId: string): Pending {
  let p = pending.get(sourceId);
  if (!p) pending.set(sourceId, (p = { counts: {}, lastEventAt: null, rejections: [], events: [], sentAt: 0, watching: false }));
  return p;
}

const soon = (at: number) => {
  if (at < dueAt) dueAt = at;
};

/** Adds to a source's counts (`accepted`, `duplicate`, `rejected:<code>`, `bot`, `webhook_delivered`, …). */
export function count(sourceId: string, kind: string, n = 1): void {
  const p = of(sourceId);
  p.counts[kind] = (p.counts[kind] ?? 0) + n;
  soon(p.sentAt + COUNTS_EVERY_MS);
}

/** Accepted events: their time for "last event seen", and themselves while someone watches. */
export function accepted(sourceId: string, events: readonly { received_at: string }[]): void {
  if (!events.length) return;
  count(sourceId, 'accepted', events.length);
  const p = of(sourceId);
  for (const e of events) if (p.lastEventAt === null || e.received_at > p.lastEventAt) p.lastEventAt = e.received_at;
  p.events.push(...events);
  if (p.watching) soon(p.sentAt + LIVE_EVERY_MS);
  else if (p.events.length > UNWATCHED_EVENTS) p.events.splice(0, p.events.length - UNWATCHED_EVENTS);
}

/** A refused event, with why and what was sent (cut). */
export function rejected(sourceId: string, channel: string, raw: unknown, error: { code: string; message: string; details: { path: string }[] }): void {
  count(sourceId, `rejected:${error.code}`);
  let payload: string;
  try {
    payload = JSON.stringify(raw) ?? String(raw);
  } catch {
    payload = String(raw);
  }
  of(sourceId).rejections.push({
    at: new Date().toISOString(),
    channel,
    code: error.code,
    message: error.message,
    paths: error.details.map((d) => d.path),
    payload: payload.length > REJECTED_PAYLOAD_BYTES ? `${payload.slice(0, REJECTED_PAYLOAD_BYTES)}…` : payload,
  });
  soon(0);
}

/** Whether anything is pending and no send waits for it yet: two comparisons, on every request. */
export const monitorsDue = () => !waiting && dueAt !== Number.POSITIVE_INFINITY;

/**
 * Sends what is due to each source's monitor, after waiting until it is due (so a quiet store's
 * last events are not left behind). Call it in `waitUntil` after a response: a failure is logged
 * and the counts are lost, never the request.
 */
export async function flushMonitors(env: Env): Promise<void> {
  if (!monitorsDue()) return;
  const wait = dueAt - Date.now();
  if (wait > 0) {
    waiting = true;
    await new Promise((r) => setTimeout(r, wait));
    waiting = false;
  }
  const now = Date.now();
  dueAt = Number.POSITIVE_INFINITY;
  await Promise.all(
    [...pending].map(async ([sourceId, p]) => {
      const due = p.rejections.length || (p.watching && p.events.length && now >= p.sentAt + LIVE_EVERY_MS) || now >= p.sentAt + COUNTS_EVERY_MS;
      const empty = !Object.keys(p.counts).length && !p.rejections.length && !p.events.length;
      if (!due || empty) {
        if (!empty) soon(p.watching && p.events.length ? p.sentAt + LIVE_EVERY_MS : p.sentAt + COUNTS_EVERY_MS);
        return;
      }
      const batch: MonitorBatch = { counts: p.counts, lastEventAt: p.lastEventAt, rejections: p.rejections, events: p.events };
      Object.assign(p, { counts: {}, lastEventAt: null, rejections: [], events: [], sentAt: now });
      try {
        p.watching = (await monitorOf(env, sourceId).record(batch)).watching;
      } catch (error) {
        console.error(JSON.stringify({ message: 'monitor feed failed', source: sourceId, error: String(error) }));
      }
    }),
  );
}
