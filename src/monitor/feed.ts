import type { MonitorBatch } from './monitor-object';
import { monitorOf } from './monitor-object';

/**
 * What the ingest path, the session objects and the queue consumer tell the console
 * (docs/console.md), gathered in this isolate and sent to each source's monitor after the
 * response (`flushMonitors`, in `waitUntil`):
 *
 * - counts, at most every FLUSH_EVERY_MS per source: nothing per event but an addition here;
 * - rejections, at once (they are rare, and the REST API lists them);
 * - accepted events, only while someone watches. The monitor's answer to each send says whether
 *   anyone does, so a source nobody watches sends counts every 2 s and nothing else.
 */

const FLUSH_EVERY_MS = 2_000;
/** An event as a rejection keeps it: its JSON, cut to this. */
export const REJECTED_PAYLOAD_BYTES = 4096;

interface Pending extends MonitorBatch {
  sentAt: number;
  watching: boolean;
}

const pending = new Map<string, Pending>();

function of(sourceId: string): Pending {
  let p = pending.get(sourceId);
  if (!p) pending.set(sourceId, (p = { counts: {}, lastEventAt: null, rejections: [], events: [], sentAt: 0, watching: false }));
  return p;
}

/** Adds to a source's counts (`accepted`, `duplicate`, `rejected:<code>`, `bot`, `webhook_delivered`, …). */
export function count(sourceId: string, kind: string, n = 1): void {
  const p = of(sourceId);
  p.counts[kind] = (p.counts[kind] ?? 0) + n;
}

/** Accepted events: their time for "last event seen", and themselves while someone watches. */
export function accepted(sourceId: string, events: readonly { occurred_at: string; received_at: string }[]): void {
  if (!events.length) return;
  const p = of(sourceId);
  count(sourceId, 'accepted', events.length);
  // ISO times: the latest sorts last.
  p.lastEventAt = [p.lastEventAt ?? '', ...events.map((e) => e.received_at)].sort().at(-1) || null;
  // While someone watches; and when the flag is due for a refresh, this request's events go along
  // with it (the monitor drops them if nobody does): a console that opens sees events within 2 s.
  if (p.watching || Date.now() - p.sentAt >= FLUSH_EVERY_MS) p.events.push(...events);
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
}

/**
 * Sends what is due to each source's monitor. Call it in `waitUntil` after a response: a failure
 * is logged and the counts are lost, never the request.
 */
export async function flushMonitors(env: Env): Promise<void> {
  const now = Date.now();
  if (!pending.size) return;
  const due = [...pending].filter(([, p]) => p.rejections.length || p.events.length || now - p.sentAt >= FLUSH_EVERY_MS);
  await Promise.all(
    due.map(async ([sourceId, p]) => {
      const batch: MonitorBatch = { counts: p.counts, lastEventAt: p.lastEventAt, rejections: p.rejections, events: p.events };
      Object.assign(p, { counts: {}, lastEventAt: null, rejections: [], events: [], sentAt: now });
      if (!Object.keys(batch.counts).length && !batch.rejections.length && !batch.events.length) return;
      try {
        p.watching = (await monitorOf(env, sourceId).record(batch)).watching;
      } catch (error) {
        console.error(JSON.stringify({ message: 'monitor feed failed', source: sourceId, error: String(error) }));
      }
    }),
  );
}
