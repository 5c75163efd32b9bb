import type { LiveEvent, MonitorBatch } from './monitor-object';
import { LIVE_EVENTS, monitorOf } from './monitor-object';

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
/** Rejections waiting for their send, per source: past it the oldest go (a monitor down for long). */
const PENDING_REJECTIONS = 1_000;
/** A send that waits longer than its due time and this is taken for lost: the next request sends. */
const STUCK_MS = 5_000;
/** An event as a rejection keeps it: its JSON, cut to this. */
const REJECTED_PAYLOAD_BYTES = 4096;

interface Pending extends MonitorBatch {
  sentAt: number;
  watching: boolean;
}

const pending = new Map<string, Pending>();
/** The earliest time something pending is due (ms); Infinity: nothing pending. */
let dueAt = Number.POSITIVE_INFINITY;
/** Until when a send waits for its turn (one per isolate); 0: none waits. */
let waitingUntil = 0;

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
export function accepted(sourceId: string, events: readonly LiveEvent[]): void {
  if (!events.length) return;
  count(sourceId, 'accepted', events.length);
  const p = of(sourceId);
  for (const e of events) if (p.lastEventAt === null || e.received_at > p.lastEventAt) p.lastEventAt = e.received_at;
  p.events.push(...events);
  if (p.watching) soon(p.sentAt + LIVE_EVERY_MS);
  const keep = p.watching ? LIVE_EVENTS : UNWATCHED_EVENTS;
  if (p.events.length > keep) p.events.splice(0, p.events.length - keep);
}

/**
 * Secrets that must never be kept, wherever a protocol or a careless client put them: alone, inside
 * a longer string ("Bearer sk_…", a URL's query) or as an object's key. Made by src/sources/keys.ts;
 * any length from 20 on, so a cut or mistyped key is hidden too.
 */
const SECRETS: readonly [RegExp, string][] = [
  [/(?<![A-Za-z0-9])sk_[A-Za-z0-9_-]{20,}/g, '[secret key]'],
  [/(?<![A-Za-z0-9])idsec_[A-Za-z0-9_-]{20,}/g, '[identity secret]'],
];
/** A customer's proof of identity (the tracker beacon's `ch`, PostHog's `$customer_hash`): of no use to a reader, so not kept. */
const HASH_FIELDS = new Set(['customer_hash', 'ch', '$customer_hash']);

const hideSecrets = (text: string) => SECRETS.reduce((t, [pattern, mark]) => t.replace(pattern, mark), text);

/** JSON.stringify's replacer: strings and object keys without secrets, objects without their customer hash. */
function redact(_key: string, value: unknown): unknown {
  if (typeof value === 'string') return hideSecrets(value);
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return value;
  const kept: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) if (!HASH_FIELDS.has(k)) kept[hideSecrets(k)] = v;
  return kept;
}

/** The fields that name a customer in what each channel sends. */
const CUSTOMER_FIELDS = ['customer_id', 'cu', 'userId', 'uid', 'distinct_id'] as const;
const customerIn = (raw: unknown): string | null => {
  if (typeof raw !== 'object' || raw === null) return null;
  const r = raw as Record<string, unknown>;
  for (const f of CUSTOMER_FIELDS) if (typeof r[f] === 'string' && r[f]) return r[f] as string;
  return null;
};

/** A refused event, with why and what was sent (cut). */
export function rejected(sourceId: string, channel: string, raw: unknown, error: { code: string; message: string; details: { path: string }[] }): void {
  count(sourceId, `rejected:${error.code}`);
  let payload: string;
  try {
    payload = JSON.stringify(raw, redact) ?? hideSecrets(String(raw));
  } catch {
    payload = '(could not be shown)';
  }
  const rejections = of(sourceId).rejections;
  if (rejections.length >= PENDING_REJECTIONS) rejections.shift();
  rejections.push({
    at: new Date().toISOString(),
    customer: customerIn(raw),
    channel,
    code: error.code,
    // A message, and a path through an object's keys, may quote what was sent.
    message: hideSecrets(error.message),
    paths: error.details.map((d) => hideSecrets(d.path)),
    payload: payload.length > REJECTED_PAYLOAD_BYTES ? `${payload.slice(0, REJECTED_PAYLOAD_BYTES)}…` : payload,
  });
  soon(0);
}

/** Whether anything is pending and no send waits for it yet: two comparisons, on every request. */
export const monitorsDue = () => dueAt !== Number.POSITIVE_INFINITY && Date.now() >= waitingUntil;

/**
 * Sends what is due to each source's monitor, after waiting until it is due (so a quiet store's
 * last events are not left behind). Call it in `waitUntil` after a response: a failure is logged
 * and the counts are lost, never the request.
 */
export async function flushMonitors(env: Env): Promise<void> {
  if (!monitorsDue()) return;
  const wait = Math.max(0, dueAt - Date.now());
  waitingUntil = Date.now() + wait + STUCK_MS;
  if (wait > 0) await new Promise((r) => setTimeout(r, wait));
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
        // The rejections go again with the next send (the REST API lists them); counts and events are for charts.
        p.rejections.unshift(...batch.rejections.slice(-PENDING_REJECTIONS));
        if (p.rejections.length) soon(Date.now() + COUNTS_EVERY_MS);
        console.error(JSON.stringify({ message: 'monitor feed failed', source: sourceId, error: String(error) }));
      }
    }),
  );
  waitingUntil = 0;
}
