import type { SessionRecord } from '../events/session-record';
import type { Shared } from '../storage/records';
import type { TriggerState } from '../triggers/session-triggers';

/**
 * What a session object keeps beside its events, in one row. Versions count changes to the
 * session or its events; arrivals number the stored events (SQLite's rowid).
 */
export interface SessionState {
  record: SessionRecord;
  /**
   * When this object stored the session's first event (ms): D1 tells this life of the session id
   * from one before it, whose object was deleted.
   */
  incarnation: number;
  timeoutS: number;
  /** Bumped by every change of the session or of its events. */
  version: number;
  /** The last stored event applied to `record` (events after it are replayed when the object wakes). */
  appliedArrival: number;
  /** D1 holds everything as of this version. */
  flushedVersion: number;
  /** Bumped by each change to every event, so a write under way meanwhile does not count as covering it. */
  rewrites: number;
  /** Where the events are written: D1 (the session row too) and, when there is one, the lake. */
  d1: Outlet;
  lake: Outlet;
  /** The D1 shard its rows go to (absent before its first write). */
  shard?: string;
  /** Shards still holding its rows from before a move (its customer linked, shards added): emptied once the new one holds them all. */
  leaving?: string[];
  /** The device and geo its events share, fixed by its first event, left out of its stored rows and of D1's. */
  shared: Shared;
  /** The version of the closed session the lake's sessions stream last got (absent: none yet). */
  sessionArchived?: number;
  /**
   * The last arrival the lake has a record of, in any version: an event after it goes as version
   * 0, one before it as the session's `rewrites`.
   */
  lakeSeen: number;
  /** A secret key's event is stored here: a public key's customer then links nothing (docs/security.md). Replayed from the events. */
  partner?: true;
  /** Campaign triggers of this session (absent while the source has none). */
  triggers?: TriggerState;
}

/**
 * What of a state a restart must find stored: the one save decision (the object writes its state
 * when this changes, and only then). The rest comes back by itself: the record's counts, times and
 * landing facts, `version`, `appliedArrival` and `partner` by replaying the stored events; D1's
 * progress (`flushedVersion`, `d1.arrival`) by writing D1 again, which changes no row (rows read
 * cost a thousandth of rows written), and its shard from the record at that write (a move since
 * the last save found from the stored shard); when the next writes are due (`at`) by the
 * schedule; the alarm from the runtime. Everything else is here: the customer and how they came,
 * the close, the conflicts, the timeout, the rewrites, failures in a row (their backoff), the
 * lake's progress (a record sent again is a duplicate there), the triggers.
 */
export function unreplayable(s: SessionState): string {
  const { record, version, appliedArrival, flushedVersion, d1, lake, partner, shard, leaving, ...kept } = s;
  const { customer_id, deanonymized_at, deanonymized_by, status, closed_at, identity_conflicts } = record;
  return JSON.stringify([
    [customer_id, deanonymized_at, deanonymized_by, status, closed_at, identity_conflicts],
    d1.attempts,
    [lake.arrival, lake.attempts],
    kept,
  ]);
}

/** A tier the object writes its events to, and how far it has got. */
export interface Outlet {
  /** It holds the events up to this arrival as they are now (0 after a change to every event: a customer linked). */
  arrival: number;
  /** Writes that failed in a row; while above 0, the backoff decides when the next one is tried. */
  attempts: number;
  /** When the next write is due (ms), null when nothing waits. */
  at: number | null;
}

export const newOutlet = (): Outlet => ({ arrival: 0, attempts: 0, at: null });
