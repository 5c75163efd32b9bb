import type { WebEvent } from '../events/schema';
import type { DeanonymizedBy, SessionRecord } from '../events/session-record';

/** How an event that names a customer de-anonymizes its session. */
export function deanonymizedBy(eventName: string): DeanonymizedBy {
  if (eventName === 'user_login') return 'login';
  if (eventName === 'user_registration') return 'registration';
  return 'event';
}

/** The customer an event is attributed to: its own, else its session's (docs/design.md, rule 5). */
export const attribute = (event: WebEvent, session: SessionRecord): WebEvent =>
  event.customer_id || !session.customer_id ? event : { ...event, customer_id: session.customer_id };

const text = (v: unknown) => (typeof v === 'string' && v ? v : null);

function utmOf(event: WebEvent): Record<string, string> | null {
  const utm = Object.entries(event.params ?? {}).filter(([k, v]) => k.startsWith('utm_') && typeof v === 'string');
  return utm.length ? (Object.fromEntries(utm) as Record<string, string>) : null;
}

/** A new session record, opened by its first event. */
export function openSession(event: WebEvent): SessionRecord {
  return {
    source_id: event.source_id,
    session_id: event.session_id,
    channel: event.channel,
    customer_id: null,
    claimed_customer_id: null,
    status: 'open',
    started_at: event.occurred_at,
    last_event_at: event.occurred_at,
    last_received_at: event.received_at,
    closed_at: null,
    event_count: 0,
    landing_url: null,
    referrer: null,
    utm: null,
    user_agent: null,
    country: null,
    deanonymized_at: null,
    deanonymized_by: null,
    identity_conflicts: 0,
  };
}

/**
 * Adds one stored event to the record: counts, time bounds, and the landing facts, which come
 * from the earliest event that has them (an out-of-order event can still be the landing).
 */
export function addToRecord(record: SessionRecord, event: WebEvent): void {
  const earliest = event.occurred_at < record.started_at;
  record.event_count += 1;
  if (earliest) record.started_at = event.occurred_at;
  if (event.occurred_at > record.last_event_at) record.last_event_at = event.occurred_at;
  if (event.received_at > record.last_received_at) record.last_received_at = event.received_at;
  if (event.claimed_customer_id && !record.claimed_customer_id) record.claimed_customer_id = event.claimed_customer_id;
  const take = (current: unknown) => earliest || current === null;
  if (event.page?.url && take(record.landing_url)) {
    record.landing_url = event.page.url;
    record.referrer = text(event.page.referrer);
  }
  const utm = utmOf(event);
  if (utm && take(record.utm)) record.utm = utm;
  const ua = text(event.device?.user_agent);
  if (ua && take(record.user_agent)) record.user_agent = ua;
  const country = text(event.geo?.country);
  if (country && take(record.country)) record.country = country;
}

/** When the session closes for inactivity (docs/design.md, rule 3). */
export const closesAt = (record: SessionRecord, timeoutS: number) => Date.parse(record.last_event_at) + timeoutS * 1000;

/** How long sessions are kept after their last event, in days; identified ones forever when null. */
export interface Retention {
  anonymousDays: number;
  identifiedDays: number | null;
}

/**
 * When a session is deleted (docs/design.md, rule 7): counted from the later of its last event and the last time
 * the collector received one, so a device clock (or a partner's backfill) cannot age it.
 */
export function expiresAt(record: SessionRecord, retention: Retention): number {
  const days = record.customer_id ? retention.identifiedDays : retention.anonymousDays;
  if (days === null) return Infinity;
  return Math.max(Date.parse(record.last_event_at), Date.parse(record.last_received_at)) + days * 86_400_000;
}

/**
 * When a session's object deletes what it holds (once D1 and the lake have it all): at the
 * session's expiry, and for an identified session, whose record D1 keeps, no later than an
 * anonymous one's would be (docs/scaling.md).
 */
export function objectExpiresAt(record: SessionRecord, retention: Retention): number {
  return Math.min(expiresAt(record, retention), expiresAt({ ...record, customer_id: null }, retention));
}

/** Delay before the next D1 write after `attempts` failures: exponential, capped at 5 minutes. */
export const flushBackoffMs = (attempts: number) => Math.min(1000 * 2 ** attempts, 300_000);
