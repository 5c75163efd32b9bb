import type { WebEvent } from '../events/schema';
import type { SessionRecord } from '../events/session-record';
import { byBytes, jsonBytes, jsonOrNull } from './json-upsert';

/**
 * The lake: every event, in every version, on a Cloudflare Pipelines stream whose sink writes an
 * R2 Data Catalog (Iceberg) table (docs/lake.md; its schema is lake/web_events.schema.json).
 *
 * A record is the web event as the session object holds it then, plus `version`: 0 when first
 * archived, and one more each time a change touched every event of its session (a customer
 * linked). An erasure sends a last version, a tombstone (`erased`, no contents). A reader keeps,
 * per (source_id, event_id), the record of the highest version, and drops it if it is erased.
 */
export interface LakeRecord extends Omit<WebEvent, 'context' | 'params' | 'page' | 'device' | 'geo' | 'flags'> {
  context: string | null;
  params: string | null;
  page: string | null;
  device: string | null;
  geo: string | null;
  flags: string;
  version: number;
  archived_at: string;
  /** A tombstone: the customer was erased; readers drop the event. */
  erased: boolean;
}

/** What the code needs of a Pipelines binding: its one method. */
export interface LakeStream {
  send(records: LakeRecord[]): Promise<void>;
}

/**
 * The LAKE binding, or null while the store has not set the lake up: the binding is declared in
 * wrangler.toml only once its stream exists (docs/lake.md), so `wrangler types` cannot type it.
 */
export function lakeOf(env: Env): LakeStream | null {
  const lake = (env as Env & { LAKE?: LakeStream }).LAKE;
  return lake ?? null;
}

/** A stored event as the lake gets it: nested objects as JSON text (the stream's `json` columns). */
export function lakeRecord(event: WebEvent, version: number, archivedAt: string): LakeRecord {
  return {
    ...event,
    context: jsonOrNull(event.context),
    params: jsonOrNull(event.params),
    page: jsonOrNull(event.page),
    device: jsonOrNull(event.device),
    geo: jsonOrNull(event.geo),
    flags: JSON.stringify(event.flags),
    version,
    archived_at: archivedAt,
    erased: false,
  };
}

/** The last version of an erased event: its ids and times, nothing of the customer or the action. */
export function tombstone(event: WebEvent, version: number, erasedAt: string): LakeRecord {
  const { event_id, source_id, channel, session_id, name, occurred_at, received_at, seq } = event;
  return {
    event_id,
    source_id,
    channel,
    session_id,
    customer_id: null,
    claimed_customer_id: null,
    name,
    occurred_at,
    received_at,
    seq,
    context: null,
    params: null,
    page: null,
    device: null,
    geo: null,
    flags: '[]',
    version,
    archived_at: erasedAt,
    erased: true,
  };
}

/**
 * A session record as the lake's sessions stream gets it (lake-sessions.schema.json): sent when
 * the session closes and again at each change after (a late event, a customer linked), with the
 * object's `version` of it; an erasure sends a tombstone. A reader keeps, per (source_id,
 * session_id, incarnation), the record of the highest version, and drops it if it is erased.
 */
export interface LakeSessionRecord extends Omit<SessionRecord, 'utm'> {
  utm: string | null;
  incarnation: number;
  version: number;
  archived_at: string;
  erased: boolean;
}

/** What the code needs of the sessions stream's binding. */
export interface LakeSessionStream {
  send(records: LakeSessionRecord[]): Promise<void>;
}

/** The LAKE_SESSIONS binding, or null while its stream is not set up (docs/lake.md). */
export function lakeSessionsOf(env: Env): LakeSessionStream | null {
  return (env as Env & { LAKE_SESSIONS?: LakeSessionStream }).LAKE_SESSIONS ?? null;
}

export function lakeSessionRecord(record: SessionRecord, incarnation: number, version: number, archivedAt: string, erased = false): LakeSessionRecord {
  const kept: SessionRecord = erased
    ? { ...record, customer_id: null, claimed_customer_id: null, landing_url: null, referrer: null, utm: null, user_agent: null, country: null }
    : record;
  return { ...kept, utm: jsonOrNull(kept.utm), incarnation, version, archived_at: archivedAt, erased };
}

/** Records in sends of at most `maxBytes` of JSON each (a Pipelines request is limited in size). */
export const lakeBatches = (records: readonly LakeRecord[], maxBytes = 900_000) => byBytes(records, jsonBytes, maxBytes);
