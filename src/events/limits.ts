/** The limits of the web event contract (docs/design.md). */
export const LIMITS = {
  /** Events in one request, on every channel. */
  batchEvents: 500,
  /** Request body bytes, checked before parsing. */
  requestBytes: 1024 * 1024,
  /** Serialized context bytes. */
  contextBytes: 16 * 1024,
  /** Nesting of a context or device object (SQLite's JSON functions stop at 1000 levels). */
  objectDepth: 16,
  /** Nesting of any JSON request body that is validated as a whole (admin, segments, links). */
  bodyDepth: 32,
  /** Keys in `params`. */
  paramsKeys: 50,
  /** Serialized `device` bytes. */
  deviceBytes: 2 * 1024,
  /** An `occurred_at` further ahead of the server clock than this is clamped. */
  futureSkewMs: 5 * 60 * 1000,
  /**
   * An `occurred_at` further behind the server clock than this is clamped and flagged on the
   * device channels (a wrong clock), refused on the partner API (a wrong backfill).
   */
  pastSkewMs: 365 * 86_400_000,
  /** Events one session keeps; more are refused (`session_full`). */
  sessionEvents: 10_000,
} as const;

/** Distinct sessions one request may reach, per channel: events of further sessions are refused. */
export const SESSIONS_PER_REQUEST = { tracker: 10, sdk: 50, api: LIMITS.batchEvents } as const;

export const NAME_PATTERN = /^[a-z0-9_.:-]{1,64}$/;
/** Session and event ids; `.` and `..` are out: a URL path cannot name them (the live session read). */
export const ID_PATTERN = /^(?!\.\.?$)[A-Za-z0-9._:-]{1,128}$/;
/**
 * A customer hash (src/sources/identity.ts): hex HMAC-SHA256 of the customer id with the source's
 * identity secret, or the timed form `t=<unix seconds>,h=<hex HMAC-SHA384 of "<t>.<customer id>">`.
 */
export const HASH_PATTERN = /^(?:[0-9a-f]{64}|t=[0-9]{1,12},h=[0-9a-f]{96})$/;

/** Whether `value` nests deeper than `max` levels of objects and arrays (stops looking there). */
export function nestsDeeper(value: unknown, max: number): boolean {
  if (typeof value !== 'object' || value === null) return false;
  if (max <= 0) return true;
  for (const key in value) if (nestsDeeper((value as Record<string, unknown>)[key], max - 1)) return true;
  return false;
}
